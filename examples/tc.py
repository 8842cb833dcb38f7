#!/usr/bin/env python3
"""tc: count packets arriving on an interface, by IP protocol (TC ingress).

Shows: TcHook -- create the interface's clsact qdisc, attach a SEC("tc") program
as an ingress filter, detach and remove it on exit -- and a hash map with a
struct value read from Python typed by BTF (c.packets, c.bytes).  Prints the
counters every second and once more at the end.

Kernel: the clsact qdisc and BPF classifiers (CONFIG_NET_CLS_BPF,
CONFIG_NET_SCH_INGRESS), Linux >= 4.1; libbpf >= 0.8 for its TC API.  Run as root.
"""
from __future__ import annotations

import socket
import time

import common

from libbpfpy import Object, TcHook

NAMES = {0: "non-IPv4", socket.IPPROTO_ICMP: "ICMP", socket.IPPROTO_TCP: "TCP",
         socket.IPPROTO_UDP: "UDP"}


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("-i", "--interface", default="lo", help="interface (default: lo)")
    args = p.parse_args()
    common.require_root()
    with Object.open(common.bpf_object("tc")) as obj:
        obj.load()
        counts = obj.maps["ingress"]

        def report() -> None:
            rows = sorted((proto, c.packets, c.bytes) for proto, c in counts.items())
            print(time.strftime("%H:%M:%S") + "  " + ("  ".join(
                f"{NAMES.get(proto, f'proto {proto}')}: {n} packets, {b} bytes"
                for proto, n, b in rows) or "no packets yet"), flush=True)

        with TcHook(args.interface, "ingress") as hook:
            hook.create()
            hook.attach(obj.programs["count_ingress"])
            common.ready(f"counting ingress packets on {args.interface}")
            common.report_every(report, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
