"""End-to-end smoke test: the walkthrough program delivers real mmap events."""
from __future__ import annotations

import ctypes
import mmap
import os
import subprocess
import sys

import pytest

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
        with RingBuffer(obj.maps["events"], seen.append, event_type=ProcessInfo) as rb:
            child = subprocess.run(
                [sys.executable, "-c", "import mmap; [mmap.mmap(-1, 4096) for _ in range(5)]"],
                check=True)
            assert child.returncode == 0
            deadline = 50
            while deadline and not any(e.comm.startswith(b"python") for e in seen):
                rb.poll(0.1)
                deadline -= 1
    assert any(e.comm.startswith(b"python") and e.pid != os.getpid() for e in seen)
    with pytest.raises(ClosedError):
        _ = obj.programs["mmap_enter"].fd
    mmap.mmap(-1, 4096).close()
