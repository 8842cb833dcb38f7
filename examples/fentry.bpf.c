// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fentry: the same kernel function as the kprobe example (the one behind
 * unlink(2)), through BPF trampolines: arguments are typed from kernel BTF and
 * read directly, and fexit sees the arguments and the result together.
 *
 * A trampoline's target is fixed at load time.  The function is do_unlinkat up
 * to Linux 6.18 and filename_unlinkat later (same arguments), so the sections
 * name none and fentry.py sets it with bpf_program__set_attach_target() before
 * loading; CO-RE then finds name->name wherever this kernel's struct filename
 * keeps it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct unlink_call {
	int pid;
	int is_exit;
	long ret;
	char name[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} calls SEC(".maps");

struct unlink_call *unused_call __attribute__((unused));	/* into BTF */

static __always_inline void emit(struct filename *name, int is_exit, long ret)
{
	struct unlink_call *c = bpf_ringbuf_reserve(&calls, sizeof(*c), 0);

	if (!c)
		return;
	c->pid = bpf_get_current_pid_tgid() >> 32;
	c->is_exit = is_exit;
	c->ret = ret;
	bpf_probe_read_kernel_str(c->name, sizeof(c->name), name->name);
	bpf_ringbuf_submit(c, 0);
}

SEC("fentry")
int BPF_PROG(unlink_entry, int dfd, struct filename *name)
{
	emit(name, 0, 0);
	return 0;
}

SEC("fexit")
int BPF_PROG(unlink_exit, int dfd, struct filename *name, long ret)
{
	emit(name, 1, ret);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
