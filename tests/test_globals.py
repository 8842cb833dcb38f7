"""obj.globals: initial values before load, live .data/.bss after, frozen .rodata."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from children import GETPGID_CHILD as CHILD
from libbpfpy import BPFError, ClosedError, Object, RingBuffer


@pytest.fixture
def gobj(bpf_object_path):
    with Object.open(bpf_object_path("globals")) as obj:
        yield obj


def test_every_global_by_section(gobj):
    g = gobj.globals
    assert g.sections() == {
        ".bss": ["hits", "last_seen_pid", "last_event", "seen_cfg", "seen_target",
                 "seen_message"],
        ".data": ["data_counter", "message"],
        ".data.custom": ["data_custom"],
        ".rodata": ["target_pid", "cfg"],
        ".rodata.custom": ["ro_custom"],
    }
    assert len(g) == 12 and "events" not in g and "LICENSE" not in g
    info = g.info("cfg")
    assert info.section == ".rodata" and info.read_only and info.size == 16
    assert g.info("hits").map.name.endswith(".bss")


def test_initial_values_are_the_compiled_ones(gobj):
    g = gobj.globals
    assert g["target_pid"] == 0 and g["ro_custom"] == 7
    assert g["data_counter"] == 5 and g["data_custom"] == -42
    assert g["message"] == b"hello"
    cfg = g["cfg"]
    assert (cfg.min_pid, cfg.tag, cfg.flags, cfg.level) == (1, b"dflt", 0, 2)
    assert g["hits"] == 0 and g["last_event"].pid == 0
    assert type(g["last_event"]) is gobj.btf.ctypes_type("process_info")


def test_set_before_load_changes_the_initial_bytes(gobj):
    g = gobj.globals
    g["target_pid"] = 4321
    g["cfg"] = {"min_pid": 10, "tag": "abc", "flags": 5, "level": 17}
    g["message"] = "hi"
    assert g["target_pid"] == 4321
    assert g.read_bytes("target_pid") == (4321).to_bytes(4, sys.byteorder)
    rodata = gobj.maps[g.info("cfg").map.name].initial_value
    assert rodata[:4] == (4321).to_bytes(4, sys.byteorder)
    assert rodata[8:16] == b"abc\0\0\0\0\0"
    assert g["message"] == b"hi"
    assert g.read_bytes("message") == b"hi" + bytes(14)


def test_bad_values_and_names_are_refused(gobj):
    g = gobj.globals
    with pytest.raises(KeyError, match="no global variable 'nope'.*target_pid"):
        g["nope"]
    with pytest.raises(KeyError):
        g["nope"] = 1
    with pytest.raises(ValueError, match="message"):
        g["message"] = "much more than sixteen bytes"
    with pytest.raises(TypeError, match="target_pid"):
        g["target_pid"] = "1234"
    with pytest.raises(ValueError, match="target_pid"):
        g["target_pid"] = 1 << 40
    with pytest.raises(TypeError, match="cannot be deleted"):
        del g["hits"]
    assert g["message"] == b"hello" and g["target_pid"] == 0   # nothing half-written


def test_globals_close_with_their_object(bpf_object_path):
    obj = Object.open(bpf_object_path("globals"))
    g = obj.globals
    assert g["ro_custom"] == 7
    obj.close()
    with pytest.raises(ClosedError):
        g["ro_custom"]
    with pytest.raises(ClosedError):
        g["hits"] = 1
    with pytest.raises(ClosedError):
        _ = obj.globals


@pytest.mark.root
def test_after_load_bpf_sees_initial_values_and_live_writes(gobj):
    g = gobj.globals
    g["target_pid"] = 1234
    g["cfg"] = (10, "abc", 5, 17)
    g["message"] = "hi there"
    g["data_counter"] = 100
    gobj.load()
    snap = gobj.programs["snapshot"]
    assert snap.test_run().retval == 100
    seen = g["seen_cfg"]
    assert (seen.min_pid, seen.tag, seen.flags, seen.level) == (10, b"abc", 5, 17)
    assert g["seen_target"] == 1234 and g["seen_message"] == b"hi there"
    g["data_counter"] = 77          # .data, written through the mmap
    g["message"] = "live"
    assert snap.test_run().retval == 77
    assert g["seen_message"] == b"live"
    # the map agrees with the mmap
    bss = gobj.maps[g.info("hits").map.name][0]
    assert bss.seen_target == 1234 and bss.seen_message == b"live"


@pytest.mark.root
def test_rodata_is_read_only_after_load(gobj):
    gobj.globals["target_pid"] = 99
    gobj.load()
    assert gobj.globals["target_pid"] == 99
    for name, section in (("target_pid", ".rodata"), ("ro_custom", ".rodata.custom")):
        with pytest.raises(BPFError, match=rf"{name}.*{section}\b.*read-only") as exc:
            gobj.globals[name] = 1
        assert exc.value.errno == 30   # EROFS
    assert gobj.globals["target_pid"] == 99




@pytest.mark.root
def test_rodata_pid_filter_counts_only_that_process(gobj):
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        gobj.globals["target_pid"] = child.pid
        gobj.load()
        links = gobj.attach()
        events = []
        with RingBuffer(gobj.maps["events"], events.append,
                        event_type="process_info") as rb:
            for _ in range(5):
                os.getpgid(0)                 # this process: filtered out
            assert gobj.globals["hits"] == 0
            child.stdin.write("7\n")
            child.stdin.flush()
            assert child.stdout.readline() == "done\n"
            # .bss and .data, read live while the program runs
            assert gobj.globals["hits"] == 7
            assert gobj.globals["last_seen_pid"] == child.pid
            assert gobj.globals["data_counter"] == 5 + 7 * 7
            assert gobj.globals["data_custom"] == -42 - 7
            deadline = time.monotonic() + 5
            while len(events) < 7 and time.monotonic() < deadline:
                rb.poll(0.1)
            for _ in range(3):
                os.getpgid(0)
            rb.poll(0.1)
        for link in links:
            link.close()
        assert gobj.globals["hits"] == 7
        assert len(events) == 7
        Info = gobj.btf.ctypes_type("process_info")
        assert all(type(e) is Info for e in events)
        assert {e.pid for e in events} == {child.pid}
        assert all(e.comm.startswith(b"python") for e in events)
        gobj.globals["hits"] = 0            # .bss written live
        assert gobj.globals["hits"] == 0
    finally:
        child.stdin.close()
        child.wait(5)
        child.stdout.close()
