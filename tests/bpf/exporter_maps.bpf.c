// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Maps of every shape the exporter tests bind configs to; filled from user space
 * except `by_comm`, which getpgid() calls of the test's child count. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct comm_key {
	char comm[16];
	__u32 nr;
	__u32 flags : 4, rest : 28;	/* a bitfield, which a label cannot take */
};

struct hist_key {
	__u32 id;
	__u32 slot;
};

struct nested_key {
	__u16 port;
	struct {
		__u8 addr[4];
		__u16 family;
	} peer;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm_key);
	__type(value, __u64);
} by_comm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 200000);
	__type(key, __u64);
	__type(value, __u64);
} by_u64 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hist_key);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct nested_key);
	__type(value, __u32);
} nested SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct comm_key);
} wide_value SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

const volatile __u32 targ_tgid = 0;

SEC("tracepoint/syscalls/sys_enter_getpgid")
int count_getpgid(void *ctx)
{
	struct comm_key key = {};
	__u64 one = 1, *count;

	if (bpf_get_current_pid_tgid() >> 32 != targ_tgid)
		return 0;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.nr = 121;
	count = bpf_map_lookup_elem(&by_comm, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&by_comm, &key, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
