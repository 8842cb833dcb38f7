// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * task_iter: a BPF iterator over every task (thread) in the system.  Reading
 * the iterator runs the program once per task; what it prints with
 * BPF_SEQ_PRINTF is what the reader gets, like a /proc file of our own.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)		/* the end of the walk */
		return 0;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "%8s %8s %8s %s\n", "PID", "TID", "PPID", "COMM");
	BPF_SEQ_PRINTF(seq, "%8d %8d %8d %s\n", task->tgid, task->pid,
		       task->real_parent->tgid, task->comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
