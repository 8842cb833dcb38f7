#!/usr/bin/env python3
"""uprobe: trace calls of a function in a user-space binary, and what it returns.

Shows: Program.attach_uprobe() by function name (libbpf finds its offset in the
ELF symbols), as an entry probe and as a return probe (retprobe=True), for every
process running the binary or only one (-p PID); records through a ring buffer.

By default it traces add_numbers() in the helper program build/examples/target
(examples/target.c); start one with `build/examples/target calls` to see output.

Kernel: uprobes (CONFIG_UPROBE_EVENTS), ring buffers (Linux >= 5.8).  Run as root.
"""
from __future__ import annotations

import common

from libbpfpy import Object, RingBuffer


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--binary", help="the binary to probe (default: the helper program)")
    p.add_argument("--function", default="add_numbers", help="function to trace")
    p.add_argument("-p", "--pid", type=int, default=-1, help="only this process")
    args = p.parse_args()
    common.require_root()
    binary = args.binary or common.helper_binary("target")
    with Object.open(common.bpf_object("uprobe")) as obj:
        obj.load()
        obj.programs["on_entry"].attach_uprobe(binary, func_name=args.function,
                                               pid=args.pid)
        obj.programs["on_return"].attach_uprobe(binary, func_name=args.function,
                                                pid=args.pid, retprobe=True)

        def show(c) -> None:
            if c.is_return:
                print(f"pid {c.pid}: {args.function} returned {c.ret}", flush=True)
            else:
                print(f"pid {c.pid}: {args.function}({c.a}, {c.b})", flush=True)

        with RingBuffer(obj.maps["calls"], show, event_type="add_call") as rb:
            common.ready(f"tracing {args.function}() in {binary}")
            common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
