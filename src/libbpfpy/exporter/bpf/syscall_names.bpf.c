// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * syscall_names: the running kernel's own system call numbers.
 *
 * With syscall tracing (CONFIG_FTRACE_SYSCALLS) the kernel keeps one struct
 * syscall_metadata per system call, whose syscall_nr it fills in at boot from
 * the real dispatch table, and shows each call as a tracefs event directory
 * events/syscalls/sys_enter_<name>/.  The inode of that directory's `enable`
 * file points (i_private) at the event's trace_event_file, whose event_call's
 * data is the metadata.  User space opens those `enable` files (read-only,
 * nothing is enabled) and runs this task_file iterator over its own fds: for
 * each fd in [fd_min, fd_max] it prints "<fd> <nr> <name>".  No table of
 * numbers is kept anywhere but in the kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 targ_tgid = 0;	/* this process */
__u32 fd_min = 0;			/* the fds to look at, set before each run */
__u32 fd_max = 0;

SEC("iter/task_file")
int syscall_numbers(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct trace_event_file *event_file;
	struct trace_event_call *call;
	struct syscall_metadata *meta;
	char name[64] = {};
	const char *ptr;
	int nr;

	if (!task || !file || task->tgid != targ_tgid ||
	    ctx->fd < fd_min || ctx->fd > fd_max)
		return 0;
	event_file = (struct trace_event_file *)BPF_CORE_READ(file, f_inode, i_private);
	call = BPF_CORE_READ(event_file, event_call);
	meta = (struct syscall_metadata *)BPF_CORE_READ(call, data);
	if (!meta)
		return 0;
	nr = BPF_CORE_READ(meta, syscall_nr);
	ptr = BPF_CORE_READ(meta, name);
	if (!ptr || bpf_probe_read_kernel_str(name, sizeof(name), ptr) < 0)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%u %d %s\n", ctx->fd, nr, name);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
