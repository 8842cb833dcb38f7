// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * uprobe: the arguments of a user-space function at entry and its result at
 * return.  SEC("uprobe") names no target: user space attaches each program to
 * a function of a binary of its choosing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct add_call {
	int pid;
	int is_return;
	long a, b, ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} calls SEC(".maps");

struct add_call *unused_call __attribute__((unused));	/* struct add_call into BTF */

static __always_inline void emit(int is_return, long a, long b, long ret)
{
	struct add_call *c = bpf_ringbuf_reserve(&calls, sizeof(*c), 0);

	if (!c)
		return;
	c->pid = bpf_get_current_pid_tgid() >> 32;
	c->is_return = is_return;
	c->a = a;
	c->b = b;
	c->ret = ret;
	bpf_ringbuf_submit(c, 0);
}

SEC("uprobe")
int BPF_KPROBE(on_entry, int a, int b)
{
	emit(0, a, b, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_return, int ret)
{
	emit(1, 0, 0, ret);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
