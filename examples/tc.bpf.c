// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tc: count what arrives on an interface, by IP protocol, at the TC ingress hook.
 * Every packet is let through (TC_ACT_OK); only the counters change.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "net.h"

struct proto_count {
	__u64 packets;
	__u64 bytes;
};

/* IP protocol number (0: not IPv4) -> packets and bytes seen. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct proto_count);
} ingress SEC(".maps");

SEC("tc")
int count_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct proto_count *c, zero = {};
	__u32 proto = 0;

	if ((void *)(ip + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP))
		proto = ip->protocol;
	c = bpf_map_lookup_elem(&ingress, &proto);
	if (!c) {
		bpf_map_update_elem(&ingress, &proto, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&ingress, &proto);
		if (!c)
			return TC_ACT_OK;
	}
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
