// Deterministic perf buffer producer for tests/test_perfbuf*.py: a raw_tp program
// run through BPF_PROG_TEST_RUN with args {count, size, seq}.  Sample `seq` holds
// {u32 seq; u32 size} followed by bytes (seq + j) & 0xff.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define CLAMP(v, mask) asm volatile("%[x] &= " #mask : [x] "+r"(v))

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} not_perf SEC(".maps");

struct scratch {
	__u8 buf[2048];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct emit_state {
	void *ctx;
	struct scratch *s;
	__u64 size;
	__u32 seq;
	__u32 ok;
	__u32 failed;
};

static long emit_cb(__u32 i, void *data)
{
	struct emit_state *st = data;
	__u64 size = st->size;
	__u32 seq = st->seq + i;
	struct scratch *s = st->s;

	for (int j = 8; j < 1024; j++)
		s->buf[j] = (seq + j) & 0xff;
	((__u32 *)s->buf)[0] = seq;
	((__u32 *)s->buf)[1] = size;
	CLAMP(size, 0x3ff);
	if (size < 8)
		return 1;
	if (bpf_perf_event_output(st->ctx, &samples, BPF_F_CURRENT_CPU, s->buf, size))
		st->failed++;
	else
		st->ok++;
	return 0;
}

/* args[0]: count, args[1]: size (8..1023), args[2]: first seq.
 * Returns (failed << 16) | ok. */
SEC("raw_tp")
int emit(struct bpf_raw_tracepoint_args *ctx)
{
	struct emit_state st = {};
	__u32 zero = 0;

	st.s = bpf_map_lookup_elem(&scratch, &zero);
	if (!st.s)
		return -1;
	st.ctx = ctx;
	st.size = ctx->args[1];
	st.seq = ctx->args[2];
	bpf_loop(ctx->args[0], emit_cb, &st, 0);
	return (st.failed << 16) | st.ok;
}

char LICENSE[] SEC("license") = "GPL";
