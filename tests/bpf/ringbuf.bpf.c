// Deterministic ring buffer producers for tests/test_ringbuf*.py and
// tests/test_user_ringbuf*.py, driven through BPF_PROG_TEST_RUN.
//
// Record `seq` of `size` bytes holds pattern bytes (seq * 7 + j) & 0xff; records of
// at least 8 bytes start with {u32 seq; u32 size} instead (struct event's prefix).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MAX_RECORD 4000
/* Bounds the verifier can see (helpers take u32 sizes, so clang may pass a register
 * whose upper half it never cleared): an opaque mask after the C check. */
#define CLAMP(v, mask) asm volatile("%[x] &= " #mask : [x] "+r"(v))

struct event {
	__u32 seq;
	__u32 size;
	__u64 value;     /* seq * 1000 + 7 for records of >= 16 bytes */
	char tag[8];     /* "evt" + digit, for records of >= 24 bytes */
};

/* A global of the type puts it in the object's BTF (event_type="event"). */
struct event last_event;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 4096);
} small SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} big SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} second SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4 * 4096);
} requests SEC(".maps");

struct scratch {
	__u8 buf[4096 + 256];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} pattern SEC(".maps");

struct args {
	__u32 ring;           /* 0: small, 1: big, 2: second */
	__u32 count;          /* records to emit */
	__u32 size;           /* size of the first record */
	__s32 size_step;      /* added to the size for each following record */
	__u32 discard_every;  /* discard every Nth record (0: none) */
	__u32 seq;            /* sequence number of the first record */
	__u32 flags;          /* submit flags (BPF_RB_NO_WAKEUP, ...) */
	__u32 produced;       /* out: records submitted */
	__u32 failed;         /* out: reservations that failed (ring full) */
	__u32 discarded;      /* out: records discarded */
};

struct rb_loop_state {
	struct args a;
	struct scratch *s;
};

static __always_inline void fill_pattern(struct scratch *s)
{
	/* A fixed pattern; records take a window of it starting at (seq * 7) & 0xff. */
	for (int j = 0; j < 4096 + 256; j++)
		s->buf[j] = j & 0xff;
}

static __always_inline int emit(void *rb, struct rb_loop_state *st, __u32 i)
{
	struct bpf_dynptr ptr;
	__u32 seq = st->a.seq + i;
	/* 64-bit, so the bounds check below applies to the register that is used */
	__u64 size = (__u32)(st->a.size + st->a.size_step * (__s32)i);
	__u32 off = (seq * 7) & 0xff;
	struct event head = {};
	int discard = st->a.discard_every && (i + 1) % st->a.discard_every == 0;

	if (size == 0 || size > MAX_RECORD)
		return 1;
	CLAMP(size, 0xfff);
	if (bpf_ringbuf_reserve_dynptr(rb, size, 0, &ptr)) {
		st->a.failed++;
		bpf_ringbuf_discard_dynptr(&ptr, 0);
		return 0;
	}
	bpf_dynptr_write(&ptr, 0, &st->s->buf[off], size, 0);
	head.seq = seq;
	head.size = size;
	head.value = (__u64)seq * 1000 + 7;
	head.tag[0] = 'e';
	head.tag[1] = 'v';
	head.tag[2] = 't';
	head.tag[3] = '0' + seq % 10;
	if (size >= 24)
		bpf_dynptr_write(&ptr, 0, &head, 24, 0);
	else if (size >= 16)
		bpf_dynptr_write(&ptr, 0, &head, 16, 0);
	else if (size >= 8)
		bpf_dynptr_write(&ptr, 0, &head, 8, 0);
	last_event = head;
	if (discard) {
		st->a.discarded++;
		bpf_ringbuf_discard_dynptr(&ptr, 0);
	} else {
		st->a.produced++;
		bpf_ringbuf_submit_dynptr(&ptr, st->a.flags);
	}
	return 0;
}

static long emit_cb(__u32 i, void *ctx)
{
	struct rb_loop_state *st = ctx;

	if (st->a.ring == 0)
		return emit(&small, st, i);
	if (st->a.ring == 1)
		return emit(&big, st, i);
	return emit(&second, st, i);
}

SEC("syscall")
int produce(struct args *ctx)
{
	struct rb_loop_state st = {};
	__u32 zero = 0;

	st.s = bpf_map_lookup_elem(&pattern, &zero);
	if (!st.s)
		return -1;
	fill_pattern(st.s);
	st.a = *ctx;
	st.a.produced = st.a.failed = st.a.discarded = 0;
	bpf_loop(st.a.count, emit_cb, &st, 0);
	ctx->produced = st.a.produced;
	ctx->failed = st.a.failed;
	ctx->discarded = st.a.discarded;
	return 0;
}

/* User ring buffer: each request is {u32 len; u8 data[len]}; drained requests are
 * echoed verbatim into `big` so the test can compare them. */
struct drain_args {
	__u32 max;       /* drain at most this many (0: all) */
	__u32 drained;   /* out */
	__u32 bad;       /* out: requests whose length did not match their size */
	__s32 ret;       /* out: bpf_user_ringbuf_drain()'s return value */
};

struct rb_drain_state {
	struct scratch *s;
	__u32 drained;
	__u32 bad;
	__u32 max;
};

static long drain_cb(struct bpf_dynptr *dynptr, void *ctx)
{
	struct rb_drain_state *st = ctx;
	__u32 len32 = 0;
	__u64 len;

	if (bpf_dynptr_read(&len32, sizeof(len32), dynptr, 0, 0) || len32 > MAX_RECORD - 4) {
		st->bad++;
		return 0;
	}
	len = len32;
	CLAMP(len, 0xfff);
	if (bpf_dynptr_read(st->s->buf, len + 4, dynptr, 0, 0)) {
		st->bad++;
		return 0;
	}
	bpf_ringbuf_output(&big, st->s->buf, len + 4, 0);
	st->drained++;
	return st->max && st->drained >= st->max;
}

SEC("syscall")
int drain(struct drain_args *ctx)
{
	struct rb_drain_state st = {};
	__u32 zero = 0;

	st.s = bpf_map_lookup_elem(&pattern, &zero);
	if (!st.s)
		return -1;
	st.max = ctx->max;
	ctx->ret = bpf_user_ringbuf_drain(&requests, drain_cb, &st, 0);
	ctx->drained = st.drained;
	ctx->bad = st.bad;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
