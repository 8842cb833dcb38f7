#!/usr/bin/env python3
"""kprobe: trace a kernel function (the one behind unlink(2)) and a system call (kill).

Shows: kprobe/kretprobe programs attached from Python to a function chosen at
run time (Program.attach_kprobe: do_unlinkat up to Linux 6.18, renamed
filename_unlinkat later; the name is looked up in kernel BTF), and ksyscall,
auto-attached by section name to a system call whatever the kernel's symbol for
it is; kernel strings read with CO-RE (BPF_CORE_READ(name, name)).  Try
`rm somefile` or `kill -0 $$` while it runs.

Kernel: kprobes (CONFIG_KPROBES, CONFIG_KPROBE_EVENTS), ring buffers (Linux >=
5.8); ksyscall needs libbpf >= 1.0.  Run as root.
"""
from __future__ import annotations

import common

from libbpfpy import Object, RingBuffer

UNLINK, UNLINK_RET, KILL = 1, 2, 3


def main() -> int:
    args = common.parser(__doc__).parse_args()
    common.require_root()
    with Object.open(common.bpf_object("kprobe")) as obj:
        unlink = common.unlink_function()
        obj.load()
        obj.programs["unlink_entry"].attach_kprobe(unlink)
        obj.programs["unlink_exit"].attach_kretprobe(unlink)
        obj.attach()                      # the rest: ksyscall/kill, named in its section

        def show(r) -> None:
            if r.kind == UNLINK:
                print(f"pid {r.pid}: {unlink}({r.as_str('name')!r})", flush=True)
            elif r.kind == UNLINK_RET:
                print(f"pid {r.pid}: {unlink} returned {r.value}", flush=True)
            elif r.kind == KILL:
                print(f"pid {r.pid}: kill({r.target}, {r.value})", flush=True)

        with RingBuffer(obj.maps["records"], show, event_type="kprobe_record") as rb:
            common.ready(f"tracing {unlink}() and kill(2)")
            common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
