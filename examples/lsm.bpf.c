// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * lsm: a BPF LSM hook that denies an operation -- here, sending a signal to one
 * protected process.  Returning -EPERM from the task_kill hook makes kill(2)
 * fail with EPERM, for root too; signal 0 (the existence check) is let through.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

const volatile int protected_pid = 0;	/* set before load */

struct kill_denial {
	int sender;
	int sig;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} denials SEC(".maps");

struct kill_denial *unused_denial __attribute__((unused));	/* struct kill_denial into BTF */

SEC("lsm/task_kill")
int BPF_PROG(deny_kill, struct task_struct *p, struct kernel_siginfo *info, int sig,
	     const struct cred *cred, int ret)
{
	struct kill_denial *d;

	if (ret)		/* an earlier LSM already said no */
		return ret;
	if (!protected_pid || p->tgid != protected_pid || sig == 0)
		return 0;
	d = bpf_ringbuf_reserve(&denials, sizeof(*d), 0);
	if (d) {
		d->sender = bpf_get_current_pid_tgid() >> 32;
		d->sig = sig;
		bpf_get_current_comm(d->comm, sizeof(d->comm));
		bpf_ringbuf_submit(d, 0);
	}
	return -EPERM;
}

char LICENSE[] SEC("license") = "GPL";
