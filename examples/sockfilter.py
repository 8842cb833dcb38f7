#!/usr/bin/env python3
"""sockfilter: report the IPv4 packets an interface carries, from a socket filter.

Shows: a SEC("socket") program attached to a raw AF_PACKET socket with
setsockopt(SO_ATTACH_BPF, program fd) -- the classic BPF socket filter hook,
with eBPF -- reading packet bytes with bpf_skb_load_bytes() and sending a
summary of each packet through a ring buffer.

Kernel: socket filter programs (any BPF kernel), ring buffers (Linux >= 5.8).
Run as root (raw sockets need CAP_NET_RAW).
"""
from __future__ import annotations

import socket

import common

from libbpfpy import Object, RingBuffer

SO_ATTACH_BPF = 50
ETH_P_ALL = 0x0003
NAMES = {socket.IPPROTO_ICMP: "ICMP", socket.IPPROTO_TCP: "TCP", socket.IPPROTO_UDP: "UDP"}


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("-i", "--interface", default="lo", help="interface (default: lo)")
    args = p.parse_args()
    common.require_root()
    with Object.open(common.bpf_object("sockfilter")) as obj:
        obj.load()

        def show(pkt) -> None:
            src = socket.inet_ntoa(pkt.src.to_bytes(4, "little"))
            dst = socket.inet_ntoa(pkt.dst.to_bytes(4, "little"))
            proto = NAMES.get(pkt.protocol, f"proto {pkt.protocol}")
            if pkt.sport or pkt.dport:
                src, dst = f"{src}:{pkt.sport}", f"{dst}:{pkt.dport}"
            way = "out" if pkt.outgoing else "in "
            print(f"{args.interface} {way} {proto:5} {src} -> {dst}", flush=True)

        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                           socket.htons(ETH_P_ALL)) as sock:
            sock.bind((args.interface, 0))
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, obj.programs["on_packet"].fd)
            with RingBuffer(obj.maps["packets"], show, event_type="packet_info") as rb:
                common.ready(f"watching IPv4 packets on {args.interface}")
                common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
