// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kprobe: a kernel function's arguments and result (kprobe/kretprobe on the
 * function behind unlink(2)), and a system call's arguments whatever its kernel
 * symbol is (ksyscall on kill: libbpf picks __x64_sys_kill, __arm64_sys_kill ...).
 *
 * The unlink function has no fixed name -- do_unlinkat up to Linux 6.18,
 * filename_unlinkat later, with the same arguments -- so its two programs say
 * only "kprobe"/"kretprobe" (no auto-attach) and kprobe.py attaches them to the
 * name the running kernel uses.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

enum record_kind { REC_UNLINK = 1, REC_UNLINK_RET = 2, REC_KILL = 3 };

struct kprobe_record {
	int pid;
	int kind;		/* enum record_kind */
	long value;		/* UNLINK_RET: the result; KILL: the signal */
	int target;		/* KILL: the pid signalled */
	char name[64];		/* UNLINK: the file name */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} records SEC(".maps");

struct kprobe_record *unused_record __attribute__((unused));	/* struct kprobe_record into BTF */

static __always_inline struct kprobe_record *start(int kind)
{
	struct kprobe_record *r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);

	if (r) {
		r->pid = bpf_get_current_pid_tgid() >> 32;
		r->kind = kind;
		r->value = 0;
		r->target = 0;
		r->name[0] = 0;
	}
	return r;
}

SEC("kprobe")
int BPF_KPROBE(unlink_entry, int dfd, struct filename *name)
{
	struct kprobe_record *r = start(REC_UNLINK);

	if (!r)
		return 0;
	bpf_probe_read_kernel_str(r->name, sizeof(r->name), BPF_CORE_READ(name, name));
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(unlink_exit, long ret)
{
	struct kprobe_record *r = start(REC_UNLINK_RET);

	if (!r)
		return 0;
	r->value = ret;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("ksyscall/kill")
int BPF_KSYSCALL(kill_entry, pid_t pid, int sig)
{
	struct kprobe_record *r = start(REC_KILL);

	if (!r)
		return 0;
	r->target = pid;
	r->value = sig;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
