// Hit counters for programs that must count exactly: each program adds to its own
// slot of hits[] only for the process the test names in target_tgid (set before
// load), so a test making N known calls from a child expects exactly N.
#ifndef LIBBPFPY_TEST_COUNTING_H
#define LIBBPFPY_TEST_COUNTING_H

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline int is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline int count_by(__u32 slot, __u64 amount)
{
	__u64 *value;

	if (!is_target())
		return 0;
	value = bpf_map_lookup_elem(&hits, &slot);
	if (value)
		__sync_fetch_and_add(value, amount);
	return 0;
}

#define count(slot) count_by(slot, 1)

#endif
