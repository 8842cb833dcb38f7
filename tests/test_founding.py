"""The walkthrough this project exists for, as its first user writes it.

Its BPF program (tests/bpf/founding.bpf.c) is a kprobe on sys_mmap that reports each
caller's pid and command name through a 16 MiB ring buffer; user space attaches it
with ``attach_kprobe("__x64_sys_mmap")`` and decodes each event into the struct.
Where the kernel has kprobes (the kernel matrix's guests) the events of a child
making known mmap calls must arrive with its pid and name; where it has none (the
development host) the error must name an alternative this kernel really allows.
"""
from __future__ import annotations

import ctypes
import re
import time

import pytest

from children import CueChild
from libbpfpy import NotSupportedError, Object, RingBuffer, fs, probe

pytestmark = pytest.mark.root


class ProcessInfo(ctypes.Structure):
    """``struct process_info`` of the walkthrough, declared on the Python side as its
    Go user space declares it."""

    _fields_ = [("pid", ctypes.c_int), ("comm", ctypes.c_char * 100)]


def test_founding_kprobe_on_sys_mmap(bpf_object_path):
    with Object.open(bpf_object_path("founding")) as obj:
        obj.load()
        prog = obj.programs["kprobe__sys_mmap"]
        symbol = probe.syscall_symbol("mmap")  # "__x64_sys_mmap", as the walkthrough
        if not probe.kprobes():
            with pytest.raises(NotSupportedError) as info:
                prog.attach_kprobe(symbol)
            hint = info.value.hint or ""
            tracepoints = re.findall(r"tracepoint syscalls:(\w+)", hint)
            if fs.tracepoint_exists("syscalls", "sys_enter_mmap"):
                assert tracepoints == ["sys_enter_mmap"], hint
            if probe.fentry():
                assert f'SEC("fentry/{symbol}")' in hint, hint
            else:
                assert "fentry/" not in hint, hint
            pytest.skip(f"kernel feature missing, probe says: {probe.kprobes()} "
                        f"(the error named: {hint})")
        with prog.attach_kprobe(symbol), \
                RingBuffer(obj.maps["events"], event_type=ProcessInfo) as rb, \
                CueChild() as child:
            with open(f"/proc/{child.pid}/comm", "rb") as f:
                comm = f.read().strip()
            child.do("mmap", 10)
            mine: list[ProcessInfo] = []
            deadline = time.monotonic() + 10
            while len(mine) < 10 and time.monotonic() < deadline:
                event = rb.read(timeout=0.5)
                if event is not None and event.pid == child.pid:
                    mine.append(event)
        assert len(mine) >= 10  # its allocator may mmap too: at least the 10 asked for
        assert {e.comm for e in mine} == {comm}
        assert all(isinstance(e, ProcessInfo) for e in mine)
