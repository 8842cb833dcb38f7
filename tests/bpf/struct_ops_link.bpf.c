// Two TCP congestion controls named "lbpy_cc_link" as struct_ops.link maps (Linux >= 5.6;
// struct_ops links >= 6.4): each counts the sockets that chose it in its own slot,
// so a test sees which implementation is registered.  Plus an XDP program.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 inits_first;
__u64 inits_second;

SEC("struct_ops/lbpy_init_first")
void BPF_PROG(lbpy_init_first, struct sock *sk)
{
	__sync_fetch_and_add(&inits_first, 1);
}

SEC("struct_ops/lbpy_init_second")
void BPF_PROG(lbpy_init_second, struct sock *sk)
{
	__sync_fetch_and_add(&inits_second, 1);
}

SEC("struct_ops/lbpy_ssthresh")
__u32 BPF_PROG(lbpy_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/lbpy_cong_avoid")
void BPF_PROG(lbpy_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/lbpy_undo_cwnd")
__u32 BPF_PROG(lbpy_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops first = {
	.init = (void *)lbpy_init_first,
	.ssthresh = (void *)lbpy_ssthresh,
	.cong_avoid = (void *)lbpy_cong_avoid,
	.undo_cwnd = (void *)lbpy_undo_cwnd,
	.name = "lbpy_cc_link",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops second = {
	.init = (void *)lbpy_init_second,
	.ssthresh = (void *)lbpy_ssthresh,
	.cong_avoid = (void *)lbpy_cong_avoid,
	.undo_cwnd = (void *)lbpy_undo_cwnd,
	.name = "lbpy_cc_link",
};

// A program of another type, for associating with a struct_ops map (Linux >= 6.19).
SEC("xdp")
int plain(struct xdp_md *ctx)
{
	return 2;
}

char LICENSE[] SEC("license") = "GPL";
