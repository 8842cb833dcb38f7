#!/usr/bin/env python3
"""The libbpfgo walkthrough in Python: print each process that calls mmap().

Loads build/examples/hello.bpf.o (a tracepoint on syscalls:sys_enter_mmap that writes
{pid, comm} records to a ring buffer) and prints the records as they arrive, decoded
with the event type the object's BTF describes (no struct written twice).
Run as root; Ctrl-C stops it.
"""
import os
import sys

from libbpfpy import Object, RingBuffer, fs

OBJ = os.path.join(os.path.dirname(__file__), "..", "build", "examples", "hello.bpf.o")


def main() -> int:
    fs.ensure_mounts()
    with Object.open(OBJ) as obj:
        obj.load()
        obj.attach()

        def show(ev) -> None:  # a ctypes struct built from BTF
            print(f"{ev.pid:>7} {ev.comm.decode(errors='replace')}", flush=True)

        with RingBuffer(obj.maps["events"], show, event_type="process_info") as rb:
            print("    PID COMM  (mmap calls; Ctrl-C to stop)", flush=True)
            try:
                while True:
                    rb.poll(1.0)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
