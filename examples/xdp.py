#!/usr/bin/env python3
"""xdp: drop every UDP and TCP packet to one port, at the driver (XDP).

Shows: Program.attach_xdp() (a BPF link: detached when it closes, even if this
process dies), a `const volatile` port set before load, and a per-CPU array read
from Python as one value per CPU, summed here.  Prints dropped/passed counts
every second and at the end.

Kernel: XDP (generic XDP works on any interface; native XDP needs driver
support) with BPF links, Linux >= 5.9.  Run as root.
"""
from __future__ import annotations

import time

import common

from libbpfpy import Object


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("-i", "--interface", default="lo", help="interface (default: lo)")
    p.add_argument("-p", "--port", type=int, required=True, help="destination port to drop")
    args = p.parse_args()
    common.require_root()
    with Object.open(common.bpf_object("xdp")) as obj:
        obj.globals["drop_port"] = args.port
        obj.load()
        verdicts = obj.maps["verdicts"]

        def report() -> None:
            dropped, passed = (sum(verdicts[i]) for i in (0, 1))
            print(f"{time.strftime('%H:%M:%S')}  port {args.port}: {dropped} dropped, "
                  f"{passed} passed", flush=True)

        with obj.programs["drop_by_port"].attach_xdp(args.interface):
            common.ready(f"dropping packets to port {args.port} on {args.interface}")
            common.report_every(report, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
