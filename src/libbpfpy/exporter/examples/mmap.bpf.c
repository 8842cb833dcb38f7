// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mmap() calls by command name, protection and kind (anonymous or file-backed),
 * counted at the syscalls:sys_enter_mmap tracepoint, the way mmapsnoop's
 * tracepoint path sees them (its fentry/kprobe paths need kernel features this
 * example does not assume).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "exporter.bpf.h"

#define MAP_ANONYMOUS 0x20

struct mmap_key {
	char comm[16];
	__u32 prot;	/* PROT_READ 1 | PROT_WRITE 2 | PROT_EXEC 4 */
	__u32 anon;	/* 1: MAP_ANONYMOUS, 0: file-backed */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mmap_key);
	__type(value, __u64);
} mmap_calls SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_mmap")
int count_mmap(struct trace_event_raw_sys_enter *ctx)
{
	/* mmap(addr, len, prot, flags, fd, off) */
	struct mmap_key key = {};

	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.prot = ctx->args[2] & 7;
	key.anon = (ctx->args[3] & MAP_ANONYMOUS) ? 1 : 0;
	exporter_add(&mmap_calls, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
