// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* minimal: a tracepoint on write(2) that says hello through bpf_printk. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* The thread to report: in .bss, so user space may set it after load. */
int my_tid = 0;

SEC("tp/syscalls/sys_enter_write")
int handle_tp(void *ctx)
{
	int tid = (__u32)bpf_get_current_pid_tgid();

	if (tid != my_tid)
		return 0;
	bpf_printk("BPF triggered from TID %d.", tid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
