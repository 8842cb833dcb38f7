// struct_ops, one feature: a TCP congestion control "lbpy_cc" written in BPF.  A
// socket that selects it runs these callbacks; calls[] counts each kind.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

enum { CALL_INIT, CALL_CONG_AVOID, CALL_SSTHRESH, CALL_UNDO_CWND, CALL_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CALL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

static __always_inline void called(__u32 kind)
{
	__u64 *n = bpf_map_lookup_elem(&calls, &kind);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("struct_ops/lbpy_init")
void BPF_PROG(lbpy_init, struct sock *sk)
{
	called(CALL_INIT);
}

SEC("struct_ops/lbpy_cong_avoid")
void BPF_PROG(lbpy_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	called(CALL_CONG_AVOID);
}

SEC("struct_ops/lbpy_ssthresh")
__u32 BPF_PROG(lbpy_ssthresh, struct sock *sk)
{
	called(CALL_SSTHRESH);
	return 10;
}

SEC("struct_ops/lbpy_undo_cwnd")
__u32 BPF_PROG(lbpy_undo_cwnd, struct sock *sk)
{
	called(CALL_UNDO_CWND);
	return 10;
}

SEC(".struct_ops")
struct tcp_congestion_ops lbpy_cc = {
	.init = (void *)lbpy_init,
	.cong_avoid = (void *)lbpy_cong_avoid,
	.ssthresh = (void *)lbpy_ssthresh,
	.undo_cwnd = (void *)lbpy_undo_cwnd,
	.name = "lbpy_cc",
};

char LICENSE[] SEC("license") = "GPL";
