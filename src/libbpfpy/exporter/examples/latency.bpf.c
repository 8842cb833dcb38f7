// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Time spent in each system call, as an exp2 histogram per system call:
 * raw_syscalls:sys_enter stores the entry time per thread, sys_exit observes
 * the difference in nanoseconds.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "exporter.bpf.h"

#define MAX_SLOT 34	/* 2^34 ns = 17 s: the config's bucket_max */

struct latency_key {
	__u32 nr;
	__u32 slot;
};

struct start {
	__u64 ts;
	__u32 nr;
};

/* LRU: a thread that never returns from its call (exit_group) leaves its entry
 * behind, and the oldest such entries make room for new ones. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);		/* thread id */
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct latency_key);
	__type(value, __u64);
} syscall_latency SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int syscall_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start s = {.ts = bpf_ktime_get_ns(), .nr = ctx->id};

	if (ctx->id < 0)
		return 0;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int syscall_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct latency_key key = {};
	struct start *s;
	__u64 delta;

	s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts;
	key.nr = s->nr;
	bpf_map_delete_elem(&starts, &tid);
	exporter_observe(&syscall_latency, &key, slot, exporter_exp2_slot(delta), MAX_SLOT,
			 delta);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
