// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * usdt: a USDT (statically defined) probe's arguments.  libbpf's usdt.bpf.h
 * decodes each argument from where the probe's note says it lives (register,
 * stack, constant); the probe itself is chosen by user space at attach time.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>

struct usdt_tick {
	int pid;
	long seq;
	char label[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} ticks SEC(".maps");

struct usdt_tick *unused_tick __attribute__((unused));	/* struct usdt_tick into BTF */

SEC("usdt")
int BPF_USDT(on_tick, long seq, const char *label)
{
	struct usdt_tick *t = bpf_ringbuf_reserve(&ticks, sizeof(*t), 0);

	if (!t)
		return 0;
	t->pid = bpf_get_current_pid_tgid() >> 32;
	t->seq = seq;
	bpf_probe_read_user_str(t->label, sizeof(t->label), label);
	bpf_ringbuf_submit(t, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
