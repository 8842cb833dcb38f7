#!/usr/bin/env python3
"""fentry: trace unlink(2) in the kernel with fentry/fexit, BPF's fast function probes.

Shows: tracing programs whose target, checked against kernel BTF at load time,
is chosen at run time (Program.set_attach_target before load: the function is
do_unlinkat up to Linux 6.18, filename_unlinkat later); fexit gets the
arguments and the return value in one call.  Try `rm somefile` while it runs.

Kernel: BPF trampolines (x86_64 or arm64, Linux >= 5.5, CONFIG_DEBUG_INFO_BTF)
and do_unlinkat or filename_unlinkat in kernel BTF; ring buffers (Linux >=
5.8).  Some kernels (lockdown, or this development host's) refuse fentry loads
with EPERM: `libbpfpy probe` says.  Run as root.
"""
from __future__ import annotations

import common

from libbpfpy import Object, RingBuffer


def main() -> int:
    args = common.parser(__doc__).parse_args()
    common.require_root()
    with Object.open(common.bpf_object("fentry")) as obj:
        unlink = common.unlink_function()
        for prog in obj.programs.values():
            prog.set_attach_target(unlink)
        obj.load()
        obj.attach()

        def show(c) -> None:
            if c.is_exit:
                print(f"pid {c.pid}: fexit {unlink}({c.as_str('name')!r}) = {c.ret}",
                      flush=True)
            else:
                print(f"pid {c.pid}: fentry {unlink}({c.as_str('name')!r})", flush=True)

        with RingBuffer(obj.maps["calls"], show, event_type="unlink_call") as rb:
            common.ready(f"tracing {unlink}() with fentry/fexit")
            common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
