"""Owners of native resources (issue 12, items 2 and 3): they cannot be copied or
pickled, and closing one from another thread while a libbpf call runs on it never
touches freed memory -- the release waits for the calls in flight.

Each race runs in a child process: a crash there fails the test rather than the suite.
"""
from __future__ import annotations

import copy
import pickle
import textwrap

import pytest

from conftest import child_ok, run_python
from libbpfpy import BTF, ClosedError, MapHandle, Object, PerfBuffer, RingBuffer
from libbpfpy.user_ringbuf import UserRingBuffer


def test_owners_refuse_copy_deepcopy_and_pickle(bpf_object_path):
    owners = []
    with BTF.from_file(bpf_object_path("btf_zoo")) as btf, \
            Object.open(bpf_object_path("ringbuf")) as obj:
        owners += [btf, obj, obj.btf, obj.globals]
        for owner in owners:
            for how in (copy.copy, copy.deepcopy, pickle.dumps):
                with pytest.raises(TypeError, match="cannot be (copied|pickled)"):
                    how(owner)
        # a copy of a view (program, map) is harmless: it still checks its object
        prog = copy.copy(obj.programs["produce"])
        assert prog.name == "produce"
    with pytest.raises(ClosedError):
        _ = prog.section


@pytest.mark.root
def test_loaded_owners_refuse_copies(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as obj:
        obj.load()
        rb = RingBuffer(obj.maps["small"])
        handle = MapHandle.from_fd(obj.maps["small"].fd)
        try:
            for owner in (rb, handle):
                for how in (copy.copy, copy.deepcopy, pickle.dumps):
                    with pytest.raises(TypeError, match="cannot be (copied|pickled)"):
                        how(owner)
        finally:
            handle.close()
            rb.close()
    with Object.open(bpf_object_path("perfbuf")) as obj:
        obj.load()
        with PerfBuffer(obj.maps["samples"]) as pb:
            with pytest.raises(TypeError, match="cannot be copied"):
                copy.copy(pb)
    with Object.open(bpf_object_path("core_trace")) as obj:
        obj.load()
        link = obj.programs["tp_getppid"].attach()
        with pytest.raises(TypeError, match="cannot be copied"):
            copy.copy(link)
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(link)


@pytest.mark.root
def test_user_ring_buffer_refuses_copies(bpf_object_path):
    from conftest import skip_unless
    from libbpfpy import probe
    from libbpfpy.enums import MapType
    skip_unless(probe.map_type(MapType.USER_RINGBUF))
    with MapHandle.create("user_ringbuf", 0, 0, 4096) as m, UserRingBuffer(m) as urb:
        for how in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError):
                how(urb)


RACE = """
import threading, time, sys
from libbpfpy import BTF, Object, ClosedError

def race(start, work, close, rounds):
    for i in range(rounds):
        owner = start()
        errors = []
        def run():
            try:
                work(owner)
            except ClosedError:
                pass
            except BaseException as exc:  # EBADF from a closed fd is a lost race too
                errors.append(exc)
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.0005 * (i % 20))
        close(owner)
        t.join()
        assert not errors, errors
        try:
            work(owner)
        except ClosedError:
            pass
        else:
            raise AssertionError("work after close did not raise ClosedError")
"""


def _race(code: str) -> None:
    proc = run_python(RACE + textwrap.dedent(code), timeout=300)
    assert proc.returncode == 0, child_ok(proc)


def test_btf_dump_while_another_thread_closes_it():
    _race("""
        race(BTF.vmlinux, lambda b: b.to_c(), lambda b: b.close(), 6)
    """)


def test_iterating_object_btf_while_another_thread_closes_the_object(bpf_object_path):
    _race(f"""
        path = {bpf_object_path("btf_zoo")!r}
        def work(obj):
            for _ in range(50):
                for t in obj.btf:
                    obj.btf.type_name(t)
        race(lambda: Object.open(path), work, lambda o: o.close(), 60)
    """)


@pytest.mark.root
def test_load_while_another_thread_closes_the_object(bpf_object_path):
    _race(f"""
        path = {bpf_object_path("ringbuf_stress")!r}
        race(lambda: Object.open(path), lambda o: o.load(), lambda o: o.close(), 25)
    """)


@pytest.mark.root
def test_map_calls_while_another_thread_closes_the_object(bpf_object_path):
    _race(f"""
        path = {bpf_object_path("core_maps")!r}
        def start():
            obj = Object.open(path)
            obj.load()
            return obj
        def work(obj):
            m = obj.maps["hash"]
            for i in range(2000):
                m[i % 50] = i
                m.lookup(i % 50)
                m.key_size, m.value_size, m.type
                list(m.keys())
        race(start, work, lambda o: o.close(), 40)
    """)


@pytest.mark.slow
@pytest.mark.root
def test_close_during_load_defers_the_release(bpf_object_path):
    """A load in flight keeps the object; closing from another thread marks it closed
    at once and the load's end releases it."""
    import logging
    import os
    import threading
    entered, release = threading.Event(), threading.Event()

    class Stall(logging.Handler):   # libbpf's log runs inside bpf_object__load
        def emit(self, record):
            if not entered.is_set():
                entered.set()
                release.wait(10)

    log = logging.getLogger("libbpfpy.libbpf")
    handler = Stall(logging.DEBUG)
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    before = set(os.listdir("/proc/self/fd"))
    outcome = {}
    try:
        obj = Object.open(bpf_object_path("core_maps"))

        def load():
            try:
                obj.load()
                outcome["loaded"] = True
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome["error"] = exc

        t = threading.Thread(target=load)
        t.start()
        assert entered.wait(10)
        obj.close()                    # returns at once, the load still runs
        assert obj.closed and t.is_alive()
        release.set()
        t.join(30)
    finally:
        release.set()
        log.removeHandler(handler)
        log.setLevel(old_level)
    assert outcome == {"loaded": True}, outcome
    assert set(os.listdir("/proc/self/fd")) <= before  # the load's end released it
    with pytest.raises(ClosedError):
        obj.maps["hash"][1]
