// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * profile: on each tick of a sampling perf event, record which process ran and
 * where -- the ids of its kernel and user stacks, kept in a stack-trace map.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_DEPTH 64

const volatile int targ_pid = 0;	/* 0: every process; set before load */

struct stack_sample {
	int pid;
	int cpu;
	int kstack;		/* stack ids; negative: none (-EFAULT: no such stack) */
	int ustack;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__uint(value_size, MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} samples SEC(".maps");

struct stack_sample *unused_stack_sample __attribute__((unused));	/* struct stack_sample into BTF */

SEC("perf_event")
int on_tick(struct bpf_perf_event_data *ctx)
{
	int pid = bpf_get_current_pid_tgid() >> 32;
	struct stack_sample *s;

	if (pid == 0 || (targ_pid && pid != targ_pid))	/* idle, or filtered out */
		return 0;
	s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s)
		return 0;
	s->pid = pid;
	s->cpu = bpf_get_smp_processor_id();
	s->kstack = bpf_get_stackid(ctx, &stacks, 0);
	s->ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	bpf_ringbuf_submit(s, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
