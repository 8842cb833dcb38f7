#!/usr/bin/env python3
"""The libbpfgo walkthrough in Python: print each process that calls mmap().

Loads build/examples/hello.bpf.o (a tracepoint on syscalls:sys_enter_mmap that writes
{pid, comm} records to a ring buffer) and prints the records as they arrive.
Run as root; Ctrl-C stops it.
"""
import ctypes
import os
import sys

from libbpfpy import Object, RingBuffer, fs

OBJ = os.path.join(os.path.dirname(__file__), "..", "build", "examples", "hello.bpf.o")


class ProcessInfo(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_int), ("comm", ctypes.c_char * 100)]


def main() -> int:
    fs.ensure_mounts()
    with Object.open(OBJ) as obj:
        obj.load()
        obj.attach()

        def show(ev: ProcessInfo) -> None:
            print(f"{ev.pid:>7} {ev.comm.decode(errors='replace')}", flush=True)

        with RingBuffer(obj.maps["events"], show, event_type=ProcessInfo) as rb:
            print("    PID COMM  (mmap calls; Ctrl-C to stop)", flush=True)
            try:
                while True:
                    rb.poll(1.0)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
