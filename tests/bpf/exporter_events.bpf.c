// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Events for the exporter's event counters: each getpgid() of the test process
 * writes one record to a ring buffer (counting failed reservations in `dropped`)
 * and one to a perf buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct event {
	__u32 pid;
	__u32 kind;		/* 1: ring buffer, 2: perf buffer */
	char comm[16];
	__u8 payload[1000];	/* big records: a small buffer fills after a few */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

const volatile __u32 targ_tgid = 0;
__u64 dropped = 0;

SEC("tracepoint/syscalls/sys_enter_getpgid")
int emit(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	struct event *ev;

	if (pid != targ_tgid)
		return 0;
	ev = bpf_ringbuf_reserve(&ring, sizeof(*ev), 0);
	if (ev) {
		ev->pid = pid;
		ev->kind = 1;
		bpf_get_current_comm(ev->comm, sizeof(ev->comm));
		bpf_ringbuf_submit(ev, 0);
	} else {
		__sync_fetch_and_add(&dropped, 1);
	}
	ev = bpf_map_lookup_elem(&scratch, &zero);
	if (!ev)
		return 0;
	ev->pid = pid;
	ev->kind = 2;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, ev, sizeof(*ev));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
