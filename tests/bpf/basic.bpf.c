// The plainest loadable object: two socket filters and a hash map.  Tests that need
// "some object that loads" use this one, so a kernel refusing a particular program
// kind (an iterator target, fentry, LSM ...) cannot fail tests about something else.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} elems SEC(".maps");

static __always_inline int bump(__u32 key)
{
	__u64 one = 1, *value = bpf_map_lookup_elem(&elems, &key);

	if (value)
		__sync_fetch_and_add(value, 1);
	else
		bpf_map_update_elem(&elems, &key, &one, BPF_NOEXIST);
	return 0;
}

SEC("socket")
int count_first(struct __sk_buff *skb)
{
	return bump(1);
}

SEC("socket")
int count_second(struct __sk_buff *skb)
{
	return bump(2);
}

char LICENSE[] SEC("license") = "GPL";
