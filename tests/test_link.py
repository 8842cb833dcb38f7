"""Links: fd, info, pin/unpin, Link.open, Link.from_id, update_program, detach,
destroy/close/with, reading iterator links."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
import uuid

import pytest

from conftest import send_udp, skip_unless, wait_for
from libbpfpy import BPFError, ClosedError, Link, LinkInfo, LinkType, Object, fs, probe
from libbpfpy._lifetime import fd_kind

pytestmark = pytest.mark.root

UDP_PORT = 4791
PKT_XDP, PKT_OTHER = 0, 4
HIT_TP = 0


@pytest.fixture
def pin_path():
    fs.mount_bpffs()
    path = os.path.join(fs.BPFFS, f"libbpfpy-link-{uuid.uuid4().hex[:8]}")
    yield path
    if os.path.exists(path):
        os.unlink(path)


@pytest.fixture
def trace_obj(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        obj.load()
        yield obj


def getppid_child(obj: Object, n: int) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import os, sys; sys.stdin.read(); "
                              f"[os.getppid() for _ in range({n})]"], stdin=subprocess.PIPE)
    obj.maps["cfg_map"][0] = child.pid
    child.communicate(b"")


def test_fd_info_and_repr(trace_obj):
    prog = trace_obj.programs["raw_sys_enter"]
    link = prog.attach_raw_tracepoint("sys_enter")
    assert fd_kind(link.fd) == "link"
    info = link.info()
    assert isinstance(info, LinkInfo)
    assert info.type == LinkType.RAW_TRACEPOINT
    assert info.prog_id == prog.info().id
    assert info.target == {"tp_name": "sys_enter", "cookie": 0}
    assert link.id == info.id > 0
    assert link.program is prog and prog.links == [link]
    assert "attached" in repr(link)
    link.destroy()
    assert "closed" in repr(link)
    assert prog.links == []


def test_destroy_close_and_with_are_idempotent(trace_obj):
    prog = trace_obj.programs["tp_getppid"]
    link = prog.attach()
    link.destroy()
    link.destroy()
    link.close()
    assert link.closed
    for call in (lambda: link.fd, link.info, link.detach, lambda: link.pin("/sys/fs/bpf/x"),
                 link.unpin, lambda: link.update_program(prog), link.read):
        with pytest.raises(ClosedError, match="link"):
            call()
    with prog.attach() as link2:
        getppid_child(trace_obj, 4)
    assert link2.closed
    hits = trace_obj.maps["hits"][HIT_TP]
    assert hits == 4
    getppid_child(trace_obj, 4)
    assert trace_obj.maps["hits"][HIT_TP] == hits  # detached on exit


def test_pin_keeps_the_program_attached_and_link_open_reopens(trace_obj, pin_path):
    link = trace_obj.programs["tp_getppid"].attach()
    link.pin(pin_path)
    assert link.pin_path == pin_path and os.path.exists(pin_path)
    link_id = link.id
    link.destroy()  # pinned: the attachment lives on
    getppid_child(trace_obj, 3)
    assert trace_obj.maps["hits"][HIT_TP] == 3
    with Link.open(pin_path) as again:
        assert again.id == link_id
        assert again.pin_path == pin_path
        again.unpin()
        assert not os.path.exists(pin_path) and again.pin_path is None
        with pytest.raises(BPFError, match="is not pinned"):
            again.unpin()
    getppid_child(trace_obj, 3)
    assert trace_obj.maps["hits"][HIT_TP] == 3  # unpinned and destroyed: detached


def test_link_open_errors(tmp_path, pin_path, trace_obj):
    with pytest.raises(BPFError) as info:
        Link.open(pin_path)
    assert info.value.errno == errno.ENOENT
    link = trace_obj.programs["tp_getppid"].attach()
    with pytest.raises(BPFError, match="not on a BPF filesystem"):
        link.pin(tmp_path / "link")
    link.destroy()


def test_from_id(trace_obj):
    link = trace_obj.programs["tp_getppid"].attach()
    with Link.from_id(link.id) as same:
        assert same.info() == link.info()
        assert same.program is None
        assert fd_kind(same.fd) == "link"
    getppid_child(trace_obj, 2)  # closing the second fd left the attachment alone
    assert trace_obj.maps["hits"][HIT_TP] == 2
    link.destroy()
    with pytest.raises(BPFError) as info:
        Link.from_id(0x7FFFFFF0)
    assert info.value.errno == errno.ENOENT


def test_from_id_pin_and_unsupported_detach(trace_obj, pin_path):
    from libbpfpy import NotSupportedError
    link = trace_obj.programs["raw_sys_enter"].attach_raw_tracepoint("sys_enter")
    with Link.from_id(link.id) as same:
        same.pin(pin_path)
        assert same.pin_path == pin_path and os.path.exists(pin_path)
        same.unpin()
        assert not os.path.exists(pin_path)
        with pytest.raises(NotSupportedError):
            same.detach()  # raw tracepoint links cannot be detached, only destroyed
    link.destroy()


def test_update_program_on_an_xdp_link(net_obj, veth_pair):
    ns_a, ns_b = veth_pair
    with ns_b.inside():
        link = net_obj.programs["xdp_count"].attach_xdp("vb")
    pkts = net_obj.maps["pkts"]
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 5)
    assert wait_for(lambda: pkts[PKT_XDP] == 5)
    other = net_obj.programs["xdp_count_other"]
    link.update_program(other)
    assert link.program is other
    assert link.info().prog_id == other.info().id
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 7)
    assert wait_for(lambda: pkts[PKT_OTHER] == 7)
    assert pkts[PKT_XDP] == 5  # the first program no longer runs
    # the same through a link opened by id (fd level)
    with Link.from_id(link.id) as by_id:
        by_id.update_program(net_obj.programs["xdp_count"])
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 2)
    assert wait_for(lambda: pkts[PKT_XDP] == 7)
    link.destroy()


def test_update_program_needs_a_loaded_program(net_obj, bpf_object_path, veth_pair):
    _, ns_b = veth_pair
    with ns_b.inside():
        link = net_obj.programs["xdp_count"].attach_xdp("vb")
    with Object.open(bpf_object_path("core_net")) as unloaded:
        with pytest.raises(BPFError, match="not loaded"):
            link.update_program(unloaded.programs["xdp_count"])
    link.destroy()


def test_detach_stops_events_but_keeps_the_link(net_obj, veth_pair):
    ns_a, ns_b = veth_pair
    with ns_b.inside():
        link = net_obj.programs["xdp_count"].attach_xdp("vb")
    link.detach()
    assert not link.closed
    assert link.info().target == {"ifindex": 0}  # the kernel forgot the device
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 5)
    time.sleep(0.1)
    assert net_obj.maps["pkts"][PKT_XDP] == 0
    link.destroy()


def test_read_map_element_iterator_links(bpf_object_path):
    skip_unless(probe.iterator("bpf_map_elem"))
    with Object.open(bpf_object_path("iter_map_elem")) as obj:
        obj.load()
        obj.maps["elems"][1] = 10
        link = obj.programs["dump_elem"].attach_iter(map=obj.maps["elems"])
        info = link.info()
        assert info.type == LinkType.ITER
        assert info.target == {"target_name": "bpf_map_elem",
                               "map_id": obj.maps["elems"].id}
        assert link.read() == b"1=10\n"
        obj.maps["elems"][2] = 20
        assert sorted(link.read().splitlines()) == [b"1=10", b"2=20"]  # runs anew
        assert link.read(chunk=1) == link.read()
        link.destroy()


def test_read_task_iterator_links(bpf_object_path):
    skip_unless(probe.iterator("task"))
    with Object.open(bpf_object_path("iter_task")) as obj:
        obj.load()
        tp = obj.programs["dump_task"].attach_iter()
        assert tp.info().target == {"target_name": "task"}
        first, second = tp.read(), tp.read(chunk=7)
        assert f"{os.getpid()} ".encode() in first and f"{os.getpid()} ".encode() in second
        tp.destroy()


def test_read_a_non_iterator_link(trace_obj):
    link = trace_obj.programs["tp_getppid"].attach()
    with pytest.raises(BPFError, match="not an iterator link"):
        link.read()
    link.destroy()


def test_closing_the_object_destroys_its_links(bpf_object_path):
    obj = Object.open(bpf_object_path("core_trace"))
    obj.load()
    links = [obj.programs["tp_getppid"].attach(),
             obj.programs["raw_sys_enter"].attach_raw_tracepoint("sys_enter")]
    ids = [link.id for link in links]
    obj.close()
    assert all(link.closed for link in links)
    for link_id in ids:
        with pytest.raises(BPFError) as info:
            Link.from_id(link_id)
        assert info.value.errno == errno.ENOENT
