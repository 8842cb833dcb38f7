// Real concurrency for tests/test_ringbuf_stress.py: processes pinned to different
// CPUs call getppid(); each call from a registered process writes one record of
// 16..271 bytes {u32 slot; u32 seq; u32 size; u32 pad; bytes (seq + j) & 0xff}
// into a small ring, so records are reserved and committed concurrently (the
// reader meets BUSY records), the ring wraps and fills.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define CLAMP(v, mask) asm volatile("%[x] &= " #mask : [x] "+r"(v))

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} stress SEC(".maps");

/* tgid -> slot (0..7) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} slots SEC(".maps");

/* per slot: [0] next seq, [1] records the ring had no room for */
struct counters {
	__u64 seq;
	__u64 failed;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct counters);
} stress_counts SEC(".maps");

struct buf {
	__u8 data[512];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct buf);
} stress_scratch SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int stress_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	__u32 *slot = bpf_map_lookup_elem(&slots, &tgid);
	struct counters *c;
	struct buf *b;
	__u64 seq, size;

	if (!slot)
		return 0;
	c = bpf_map_lookup_elem(&stress_counts, slot);
	b = bpf_map_lookup_elem(&stress_scratch, &zero);
	if (!c || !b)
		return 0;
	seq = c->seq++;   /* one process per slot: no races on it */
	size = 16 + (seq * 37) % 256;
	CLAMP(size, 0x1ff);
	for (int j = 0; j < 272; j++)
		b->data[j] = (seq + j) & 0xff;
	((__u32 *)b->data)[0] = *slot;
	((__u32 *)b->data)[1] = seq;
	((__u32 *)b->data)[2] = size;
	((__u32 *)b->data)[3] = 0;
	if (size < 16)
		return 0;
	if (bpf_ringbuf_output(&stress, b->data, size, 0))
		c->failed++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
