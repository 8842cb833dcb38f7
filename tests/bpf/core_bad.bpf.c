// A program the verifier must reject: it reads past the end of a map value.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} small SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int good(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int out_of_bounds(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&small, &zero);

	if (!v)
		return 0;
	return v[4];  // 8-byte value, read at offset 32
}

// Rejected for the same reason after a long accepted prefix: its verifier log
// runs to many kilobytes (for the log-formatting tests).
SEC("tracepoint/syscalls/sys_enter_getpid")
int long_then_bad(void *ctx)
{
	__u32 zero = 0;
	__u64 sum = 0, *v;

#pragma unroll
	for (int i = 0; i < 96; i++)
		sum += bpf_get_prandom_u32();
	v = bpf_map_lookup_elem(&small, &zero);
	if (!v)
		return sum;
	return v[4] + sum;
}

char LICENSE[] SEC("license") = "GPL";
