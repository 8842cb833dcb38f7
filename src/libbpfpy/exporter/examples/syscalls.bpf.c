// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* System calls entered, by command name and system call number. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "exporter.bpf.h"

struct syscall_key {
	char comm[16];
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct syscall_key);
	__type(value, __u64);
} syscall_counts SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscall(struct trace_event_raw_sys_enter *ctx)
{
	struct syscall_key key = {};

	if (ctx->id < 0)
		return 0;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.nr = ctx->id;
	exporter_add(&syscall_counts, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
