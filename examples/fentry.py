#!/usr/bin/env python3
"""fentry: trace do_unlinkat() with fentry/fexit, BPF's fast function probes.

Shows: tracing programs whose target is fixed by the section name and checked
against kernel BTF at load time; fexit gets the arguments and the return value
in one call.  Try `rm somefile` while it runs.

Kernel: BPF trampolines (x86_64 or arm64, Linux >= 5.5, CONFIG_DEBUG_INFO_BTF)
and do_unlinkat in kernel BTF; ring buffers (Linux >= 5.8).  Some kernels
(lockdown, or this development host's) refuse fentry loads with EPERM:
`libbpfpy probe` says.  Run as root.
"""
from __future__ import annotations

import common

from libbpfpy import Object, RingBuffer


def main() -> int:
    args = common.parser(__doc__).parse_args()
    common.require_root()
    with Object.open(common.bpf_object("fentry")) as obj:
        obj.load()
        obj.attach()

        def show(c) -> None:
            if c.is_exit:
                print(f"pid {c.pid}: fexit do_unlinkat({c.as_str('name')!r}) = {c.ret}",
                      flush=True)
            else:
                print(f"pid {c.pid}: fentry do_unlinkat({c.as_str('name')!r})", flush=True)

        with RingBuffer(obj.maps["calls"], show, event_type="unlink_call") as rb:
            common.ready("tracing do_unlinkat() with fentry/fexit")
            common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
