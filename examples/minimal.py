#!/usr/bin/env python3
"""minimal: a tracepoint program that writes to the kernel's trace pipe.

Shows: the smallest whole flow -- open the compiled object, load, attach by
section name (SEC("tp/syscalls/sys_enter_write")), set a .bss global after load
(my_tid), and read bpf_printk() output back from tracefs's trace_pipe.

A heartbeat thread writes a dot to /dev/null every second; the BPF program
reports only that thread's write(2) calls, so printing here does not feed itself.

Kernel: tracepoints (CONFIG_FTRACE_SYSCALLS for syscalls:*), tracefs mounted,
Linux >= 5.4 with BTF.  Run as root.
"""
from __future__ import annotations

import os
import select
import threading

import common

from libbpfpy import Object, fs


def main() -> int:
    args = common.parser(__doc__).parse_args()
    common.require_root()
    fs.ensure_mounts()
    stop = threading.Event()
    started = threading.Event()
    tid = [0]

    def heartbeat() -> None:
        tid[0] = threading.get_native_id()
        started.set()
        with open(os.devnull, "w") as null:
            while not stop.wait(1.0):
                null.write(".")
                null.flush()

    pipe = os.path.join(fs.require_tracefs("reading the trace pipe"), "trace_pipe")
    with Object.open(common.bpf_object("minimal")) as obj:
        obj.load()
        obj.attach()
        thread = threading.Thread(target=heartbeat, daemon=True)
        thread.start()
        started.wait()
        obj.globals["my_tid"] = tid[0]
        fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
        try:
            common.ready(f"reporting write(2) from thread {tid[0]} via {pipe}")
            marker = f"BPF triggered from TID {tid[0]}.".encode()
            pending = b""

            def step(timeout: float) -> None:
                nonlocal pending
                if not select.select([fd], [], [], timeout)[0]:
                    return
                try:
                    pending += os.read(fd, 65536)
                except BlockingIOError:
                    return
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if marker in line:       # the pipe is shared: show ours only
                        print(line.decode(errors="replace").strip(), flush=True)

            common.run(step, args.duration)
        finally:
            os.close(fd)
            stop.set()
            thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
