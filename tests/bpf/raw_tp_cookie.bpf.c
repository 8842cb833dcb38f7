// A raw tracepoint program reading its attach cookie (libbpf >= 1.4, Linux >= 6.10).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u32 target_pid;
__u64 cookie_seen;
__u64 hits;

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	cookie_seen = bpf_get_attach_cookie(ctx);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
