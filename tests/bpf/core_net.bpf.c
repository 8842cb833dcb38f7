// Networking programs of the core tests.  Each counts IPv4 UDP packets to the
// port Python writes into port_cfg[0], in its own slot of `pkts`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define IPPROTO_UDP 17
#define XDP_PASS 2
#define TC_ACT_OK 0
#define SK_PASS 1

enum { PKT_XDP, PKT_TC, PKT_CGROUP, PKT_SK_LOOKUP, PKT_TEST_RUN, PKT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} port_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PKT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pkts SEC(".maps");

static __always_inline __u16 want_port(void)
{
	__u32 zero = 0, *p = bpf_map_lookup_elem(&port_cfg, &zero);

	return p ? (__u16)*p : 0;
}

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&pkts, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

// Is the IPv4 header at data a UDP datagram to the wanted port?
static __always_inline bool udp_to_port(void *ip, void *end)
{
	struct iphdr *iph = ip;
	struct udphdr *udp;

	if ((void *)(iph + 1) > end || iph->protocol != IPPROTO_UDP || iph->ihl != 5)
		return false;
	udp = (void *)(iph + 1);
	if ((void *)(udp + 1) > end)
		return false;
	return want_port() && udp->dest == bpf_htons(want_port());
}

static __always_inline bool eth_udp(void *data, void *end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return false;
	return udp_to_port(eth + 1, end);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	if (eth_udp((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		count(PKT_XDP);
	return XDP_PASS;
}

// Same program, for link update tests: counts into the test-run slot.
SEC("xdp")
int xdp_count_other(struct xdp_md *ctx)
{
	if (eth_udp((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		count(PKT_TEST_RUN);
	return XDP_PASS;
}

// Rewrites the first payload byte to 'X' (test_run data out).
SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (eth_udp(data, end)) {
		count(PKT_TC);
		char *payload = data + sizeof(struct ethhdr) + sizeof(struct iphdr) +
				sizeof(struct udphdr);
		if ((void *)(payload + 1) <= end)
			*payload = 'X';
	}
	return TC_ACT_OK;
}

SEC("cgroup_skb/egress")
int cgroup_egress(struct __sk_buff *skb)
{
	struct iphdr iph;
	struct udphdr udp;

	// cgroup_skb sees packets from the network header on.
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 1;
	if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)) || iph.protocol != IPPROTO_UDP ||
	    iph.ihl != 5)
		return 1;
	if (bpf_skb_load_bytes(skb, sizeof(iph), &udp, sizeof(udp)))
		return 1;
	if (want_port() && udp.dest == bpf_htons(want_port()))
		count(PKT_CGROUP);
	return 1;  // allow
}

SEC("sk_lookup")
int sk_lookup_count(struct bpf_sk_lookup *ctx)
{
	if (ctx->protocol == IPPROTO_UDP && want_port() && ctx->local_port == want_port())
		count(PKT_SK_LOOKUP);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
