// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * xdp: drop UDP and TCP packets to one destination port as they reach the
 * driver, before the kernel allocates anything for them; count both outcomes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "net.h"

const volatile __u16 drop_port = 0;	/* host order; set before load */

/* [0]: packets dropped, [1]: packets passed. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int count(__u32 which, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&verdicts, &which);

	if (n)
		*n += 1;	/* per CPU: no atomics needed */
	return verdict;
}

SEC("xdp")
int drop_by_port(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u16 *ports;		/* source, destination: the same place in UDP and TCP */

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return count(1, XDP_PASS);
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return count(1, XDP_PASS);
	ports = (void *)ip + ip->ihl * 4;
	if ((void *)(ports + 2) > data_end)
		return count(1, XDP_PASS);
	if (bpf_ntohs(ports[1]) == drop_port)
		return count(0, XDP_DROP);
	return count(1, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
