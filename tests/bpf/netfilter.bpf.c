// A netfilter program (libbpf >= 1.3, Linux >= 6.4): counts the IPv4 UDP packets to
// the port in port_cfg[0] that pass its hook, and accepts everything.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#define IPPROTO_UDP 17
#define NF_ACCEPT 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} port_cfg SEC(".maps");

__u64 packets;
__u32 last_hook;

SEC("netfilter")
int nf_count(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	__u32 zero = 0, *port = bpf_map_lookup_elem(&port_cfg, &zero);
	unsigned char *head;
	struct iphdr iph;
	struct udphdr udp;

	if (!port)
		return NF_ACCEPT;
	head = BPF_CORE_READ(skb, head);
	if (bpf_probe_read_kernel(&iph, sizeof(iph), head + BPF_CORE_READ(skb, network_header)))
		return NF_ACCEPT;
	if (iph.protocol != IPPROTO_UDP || iph.ihl != 5)
		return NF_ACCEPT;
	if (bpf_probe_read_kernel(&udp, sizeof(udp),
				  head + BPF_CORE_READ(skb, network_header) + sizeof(iph)))
		return NF_ACCEPT;
	if (udp.dest == bpf_htons((__u16)*port)) {
		__sync_fetch_and_add(&packets, 1);
		last_hook = BPF_CORE_READ(ctx, state, hook);
	}
	return NF_ACCEPT;
}

char LICENSE[] SEC("license") = "GPL";
