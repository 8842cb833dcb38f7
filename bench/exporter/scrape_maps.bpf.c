// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The map the exporter scrape benchmark fills from user space: the key of the
 * syscalls example (command name, system call number), room for 200 k entries. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct syscall_key {
	char comm[16];
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 200000);
	__type(key, struct syscall_key);
	__type(value, __u64);
} syscall_counts SEC(".maps");

char LICENSE[] SEC("license") = "Dual BSD/GPL";
