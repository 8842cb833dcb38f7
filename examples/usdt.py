#!/usr/bin/env python3
"""usdt: read the arguments of a USDT probe compiled into a program.

Shows: Program.attach_usdt(binary, provider, name) -- libbpf reads the probe's
ELF note (.note.stapsdt), finds where each argument lives and hands them to
BPF_USDT() as plain parameters; strings are read from user memory.

By default it traces libbpfpy_target:tick in build/examples/target (made with
<sys/sdt.h>, from systemtap-sdt-dev); start one with `build/examples/target calls`.

Kernel: uprobes (CONFIG_UPROBE_EVENTS), ring buffers (Linux >= 5.8); libbpf >= 1.0.
Run as root.
"""
from __future__ import annotations

import common

from libbpfpy import Object, RingBuffer


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--binary", help="the binary with the probe (default: the helper)")
    p.add_argument("--probe", default="libbpfpy_target:tick", metavar="PROVIDER:NAME")
    p.add_argument("-p", "--pid", type=int, default=-1, help="only this process")
    args = p.parse_args()
    common.require_root()
    binary = args.binary or common.helper_binary("target")
    provider, _, name = args.probe.partition(":")
    with Object.open(common.bpf_object("usdt")) as obj:
        obj.load()
        obj.programs["on_tick"].attach_usdt(binary, provider, name, pid=args.pid)

        def show(t) -> None:
            print(f"pid {t.pid}: {args.probe} seq={t.seq} label={t.as_str('label')!r}",
                  flush=True)

        with RingBuffer(obj.maps["ticks"], show, event_type="usdt_tick") as rb:
            common.ready(f"tracing USDT {args.probe} in {binary}")
            common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
