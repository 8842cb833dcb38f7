// An freplace (BPF_PROG_TYPE_EXT) program replacing a global function of
// core_freplace_target.bpf.c.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("freplace/pick")
int new_pick(struct xdp_md *ctx)
{
	return 1;  // XDP_DROP
}

char LICENSE[] SEC("license") = "GPL";
