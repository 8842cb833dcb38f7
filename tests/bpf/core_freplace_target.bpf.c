// The target of core_freplace.bpf.c: an XDP program whose verdict comes from a
// global (hence replaceable) function.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__noinline int pick(struct xdp_md *ctx)
{
	return ctx ? 2 : 0;  // XDP_PASS
}

SEC("xdp")
int xdp_target(struct xdp_md *ctx)
{
	return pick(ctx);
}

char LICENSE[] SEC("license") = "GPL";
