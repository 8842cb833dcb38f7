// The program half of the linker test: scale() and bias live in link_lib.bpf.c, so
// this object loads only once linked with it.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define XDP_PASS 2

extern int scale(int x);
extern int bias;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counter SEC(".maps");

SEC("xdp")
int linked(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&counter, &zero);

	if (v)
		*v += scale(3) + bias;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
