// A map two programs use, for exclusive maps (libbpf >= 1.7, Linux >= 6.18): each
// program adds to its own slot of `shared` when run.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define XDP_PASS 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} shared SEC(".maps");

static __always_inline void bump(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&shared, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int owner(struct xdp_md *ctx)
{
	bump(0);
	return XDP_PASS;
}

SEC("xdp")
int intruder(struct xdp_md *ctx)
{
	bump(1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
