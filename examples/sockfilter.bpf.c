// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sockfilter: a socket filter on a raw packet socket.  For each IPv4 packet the
 * socket sees it sends the addresses, protocol and ports to user space, then
 * returns 0 so that the socket itself receives nothing: the ring buffer is the
 * only output.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "net.h"

struct packet_info {
	__u32 src;		/* network byte order */
	__u32 dst;
	__u16 sport;		/* host byte order */
	__u16 dport;
	__u8 protocol;
	__u8 outgoing;		/* the packet was sent from this host */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} packets SEC(".maps");

struct packet_info *unused_packet __attribute__((unused));	/* struct packet_info into BTF */

SEC("socket")
int on_packet(struct __sk_buff *skb)
{
	struct packet_info *p;
	__u16 proto;
	__u8 verhlen;
	__u32 ports;

	if (bpf_skb_load_bytes(skb, 12, &proto, 2) || proto != bpf_htons(ETH_P_IP))
		return 0;
	p = bpf_ringbuf_reserve(&packets, sizeof(*p), 0);
	if (!p)
		return 0;
	bpf_skb_load_bytes(skb, ETH_HLEN, &verhlen, 1);
	bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &p->protocol, 1);
	bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, saddr), &p->src, 4);
	bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, daddr), &p->dst, 4);
	p->sport = p->dport = 0;
	if ((p->protocol == IPPROTO_TCP || p->protocol == IPPROTO_UDP) &&
	    !bpf_skb_load_bytes(skb, ETH_HLEN + (verhlen & 0xF) * 4, &ports, 4)) {
		p->sport = bpf_ntohs(ports & 0xFFFF);
		p->dport = bpf_ntohs(ports >> 16);
	}
	p->outgoing = skb->pkt_type == 4;	/* PACKET_OUTGOING */
	bpf_ringbuf_submit(p, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
