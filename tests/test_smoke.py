"""End-to-end smoke test: the walkthrough program delivers real mmap events."""
from __future__ import annotations

import ctypes
import mmap
import time

import pytest

from children import CueChild
from libbpfpy import ClosedError, Object, RingBuffer


class ProcessInfo(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_int), ("comm", ctypes.c_char * 100)]


@pytest.mark.root
def test_mmap_events_from_child_arrive_with_its_pid(bpf_object_path):
    seen: list[ProcessInfo] = []
    with Object.open(bpf_object_path("hello")) as obj:
        obj.load()
        links = obj.attach()
        assert len(links) == 1
        with RingBuffer(obj.maps["events"], seen.append, event_type=ProcessInfo) as rb, \
                CueChild() as child:
            with open(f"/proc/{child.pid}/comm", "rb") as f:
                comm = f.read().strip()
            child.do("mmap", 5)
            mine = lambda: [e for e in seen if e.pid == child.pid]  # noqa: E731
            deadline = time.monotonic() + 5
            while len(mine()) < 5 and time.monotonic() < deadline:
                rb.poll(0.1)
    assert len(mine()) >= 5  # the child's allocator may mmap too
    assert {e.comm for e in mine()} == {comm}
    with pytest.raises(ClosedError):
        _ = obj.programs["mmap_enter"].fd
    mmap.mmap(-1, 4096).close()
