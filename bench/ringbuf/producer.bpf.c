// Ring buffer benchmark producer (bench/bench_ringbuf.py).
//
// On every getppid() of the target process, emit RECORDS_PER_CALL records into
// `events`: in fixed mode {int pid; char comm[100]} (104 bytes + 8-byte header = 112
// in the ring); in variable mode 16..4000 random bytes starting with {pid, size, seq}.
// Per-CPU counters: [0] records attempted, [1] records the ring had no room for.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define RECORDS_PER_CALL 16
#define CLAMP(v, mask) asm volatile("%[x] &= " #mask : [x] "+r"(v))

struct event {
	int pid;
	char comm[100];
};

struct var_head {
	__u32 pid;
	__u32 size;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* [0]: target tgid, [1]: 0 fixed-size records, 1 variable-size records */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} bench_config SEC(".maps");

struct scratch {
	__u8 buf[4096];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} bench_scratch SEC(".maps");

/* Keep the types in BTF for event_type="event" / "var_head". */
struct event _unused_event;
struct var_head _unused_var_head;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 k0 = 0, k1 = 1;
	__u32 *tgid = bpf_map_lookup_elem(&bench_config, &k0);
	__u32 *mode = bpf_map_lookup_elem(&bench_config, &k1);
	__u64 *attempts = bpf_map_lookup_elem(&counts, &k0);
	__u64 *failed = bpf_map_lookup_elem(&counts, &k1);
	__u32 pid = bpf_get_current_pid_tgid() >> 32;

	if (!tgid || !mode || !attempts || !failed || pid != *tgid)
		return 0;
	if (*mode == 0) {
#pragma unroll
		for (int i = 0; i < RECORDS_PER_CALL; i++) {
			struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

			*attempts += 1;
			if (!e) {
				*failed += 1;
				continue;
			}
			e->pid = pid;
			bpf_get_current_comm(e->comm, sizeof(e->comm));
			bpf_ringbuf_submit(e, 0);
		}
		return 0;
	}
	struct scratch *s = bpf_map_lookup_elem(&bench_scratch, &k0);

	if (!s)
		return 0;
	for (int i = 0; i < RECORDS_PER_CALL; i++) {
		struct var_head *h = (void *)s->buf;
		__u64 size = 16 + bpf_get_prandom_u32() % 3985;

		CLAMP(size, 0xfff);
		if (size < 16)
			size = 16;
		h->pid = pid;
		h->size = size;
		h->seq = *attempts;
		*attempts += 1;
		if (bpf_ringbuf_output(&events, s->buf, size, 0))
			*failed += 1;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
