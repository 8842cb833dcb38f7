// tcx and netkit programs (libbpf >= 1.3): each counts the IPv4 UDP packets to the
// port Python writes into port_cfg[0] in its slot of `hits`, and stamps `order` with
// a global sequence number each time, so a test sees which ran first.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define IPPROTO_UDP 17
#define NEXT -1		/* TCX_NEXT / NETKIT_NEXT: let the next program decide */

enum { TCX_A, TCX_B, TCX_EGRESS, NETKIT_PRIMARY, NETKIT_PEER, SLOTS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} port_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} order SEC(".maps");

__u64 seq;

// Headers read relative to the network header: the same code serves tc (which sees
// the Ethernet header) and netkit in its default L3 mode (which does not).
static __always_inline bool udp_to_port(struct __sk_buff *skb)
{
	__u32 zero = 0, *port = bpf_map_lookup_elem(&port_cfg, &zero);
	struct iphdr iph;
	struct udphdr udp;

	if (!port || skb->protocol != bpf_htons(ETH_P_IP))
		return false;
	if (bpf_skb_load_bytes_relative(skb, 0, &iph, sizeof(iph), BPF_HDR_START_NET) ||
	    iph.protocol != IPPROTO_UDP || iph.ihl != 5)
		return false;
	if (bpf_skb_load_bytes_relative(skb, sizeof(iph), &udp, sizeof(udp),
					BPF_HDR_START_NET))
		return false;
	return udp.dest == bpf_htons((__u16)*port);
}

static __always_inline int mark(struct __sk_buff *skb, __u32 slot)
{
	__u64 *v, *o;

	if (!udp_to_port(skb))
		return NEXT;
	v = bpf_map_lookup_elem(&hits, &slot);
	o = bpf_map_lookup_elem(&order, &slot);
	if (v && o) {
		__sync_fetch_and_add(v, 1);
		*o = __sync_fetch_and_add(&seq, 1) + 1;
	}
	return NEXT;
}

SEC("tcx/ingress")
int tcx_a(struct __sk_buff *skb) { return mark(skb, TCX_A); }

SEC("tcx/ingress")
int tcx_b(struct __sk_buff *skb) { return mark(skb, TCX_B); }

SEC("tcx/egress")
int tcx_egress(struct __sk_buff *skb) { return mark(skb, TCX_EGRESS); }

SEC("netkit/primary")
int netkit_primary(struct __sk_buff *skb) { return mark(skb, NETKIT_PRIMARY); }

SEC("netkit/peer")
int netkit_peer(struct __sk_buff *skb) { return mark(skb, NETKIT_PEER); }

char LICENSE[] SEC("license") = "GPL";
