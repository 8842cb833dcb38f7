// One map of each type the core tests cover, and programs that write and read
// them from the BPF side, run through BPF_PROG_TEST_RUN, so that every map
// operation is checked against values BPF wrote and values BPF reads.  Sleepable
// `syscall` programs may only use hash and array maps, so the other types are
// driven by raw_tp programs (arguments in ctx->args[], results in `results`), and
// the spin-lock map, which tracing programs may not use, by tc programs.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct args {
	__u32 key;
	__u32 cpu;
	__u64 value;
	__s64 out[4];
	__s32 ret;
	__u32 pad;
};

struct big {
	__u64 a;
	__u32 b;
	char tag[12];
};

struct locked {
	struct bpf_spin_lock lock;
	__u32 a;
	__u64 b;
};

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

#define KV(t, n, k, v, max)                                                   \
	struct {                                                              \
		__uint(type, t);                                              \
		__uint(max_entries, max);                                     \
		__type(key, k);                                               \
		__type(value, v);                                             \
	} n SEC(".maps")

KV(BPF_MAP_TYPE_HASH, hash, __u32, __u64, 128);
KV(BPF_MAP_TYPE_ARRAY, array, __u32, __u64, 16);
KV(BPF_MAP_TYPE_PERCPU_HASH, pcpu_hash, __u32, __u64, 16);
KV(BPF_MAP_TYPE_PERCPU_ARRAY, pcpu_array, __u32, __u64, 4);
KV(BPF_MAP_TYPE_LRU_HASH, lru, __u32, __u64, 4);
KV(BPF_MAP_TYPE_HASH, bighash, __u32, struct big, 8);
KV(BPF_MAP_TYPE_HASH, spin, __u32, struct locked, 8);
KV(BPF_MAP_TYPE_ARRAY, results, __u32, __s64, 8);

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u32);
} stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__uint(map_extra, 3);
	__type(value, __u32);
} bloom SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = {
	.values = { [1] = &inner_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_array SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

static __always_inline void result(__u32 idx, __s64 value)
{
	bpf_map_update_elem(&results, &idx, &value, BPF_ANY);
}

// syscall: write ctx->value at ctx->key in hash, array and bighash; ctx->ret
// gets a bit per failed update, ctx->cpu the CPU it ran on.
SEC("syscall")
int write_maps(struct args *ctx)
{
	__u32 key = ctx->key;
	__u64 value = ctx->value;
	struct big big = { .a = value, .b = key };

	__builtin_memcpy(big.tag, "from-bpf", 9);
	ctx->ret = 0;
	ctx->ret |= bpf_map_update_elem(&hash, &key, &value, BPF_ANY) ? 1 : 0;
	ctx->ret |= bpf_map_update_elem(&array, &key, &value, BPF_ANY) ? 2 : 0;
	ctx->ret |= bpf_map_update_elem(&bighash, &key, &big, BPF_ANY) ? 4 : 0;
	ctx->cpu = bpf_get_smp_processor_id();
	return 0;
}

// syscall: out[0] = hash[key], out[1] = array[key], out[2] = bighash[key].a
// (-1 where absent).
SEC("syscall")
int read_maps(struct args *ctx)
{
	__u32 key = ctx->key;
	__s64 o0 = -1, o1 = -1, o2 = -1;
	__u64 *v;
	struct big *b;

	v = bpf_map_lookup_elem(&hash, &key);
	if (v)
		o0 = *v;
	v = bpf_map_lookup_elem(&array, &key);
	if (v)
		o1 = *v;
	b = bpf_map_lookup_elem(&bighash, &key);
	if (b)
		o2 = b->a;
	// Plain stores at constant offsets: the verifier refuses stores through a
	// ctx pointer the compiler has moved.
	ctx->out[0] = o0;
	ctx->out[1] = o1;
	ctx->out[2] = o2;
	ctx->out[3] = -1;
	return 0;
}

// raw_tp, args (key, value): write value at key in pcpu_hash and lru, push
// (u32)value to queue, stack and bloom, add the /24 around (u32)value's bytes to
// the trie with key as its value.  results[0] = failed-update bits, [1] = CPU.
SEC("raw_tp")
int write_more(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 key = ctx->args[0], v32 = ctx->args[1];
	__u64 value = ctx->args[1];
	struct lpm_key lk = { .prefixlen = 24 };
	__s64 ret = 0;

	__builtin_memcpy(lk.addr, &v32, 4);
	ret |= bpf_map_update_elem(&pcpu_hash, &key, &value, BPF_ANY) ? 1 : 0;
	ret |= bpf_map_update_elem(&lru, &key, &value, BPF_ANY) ? 2 : 0;
	ret |= bpf_map_update_elem(&lpm, &lk, &key, BPF_ANY) ? 4 : 0;
	ret |= bpf_map_push_elem(&queue, &v32, 0) ? 8 : 0;
	ret |= bpf_map_push_elem(&stack, &v32, 0) ? 16 : 0;
	ret |= bpf_map_push_elem(&bloom, &v32, 0) ? 32 : 0;
	result(0, ret);
	result(1, bpf_get_smp_processor_id());
	return 0;
}

// raw_tp, args (key, value, cpu): results[0] = pcpu_array[key] on that CPU,
// [1] = 1 if the bloom filter may contain (u32)value, [2] = the trie's value for
// the address whose bytes are (u32)value (-1 if no prefix matches),
// [3] = pcpu_hash[key] on that CPU, [4] = lru[key] (-1 where absent).
SEC("raw_tp")
int read_more(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 key = ctx->args[0], v32 = ctx->args[1], cpu = ctx->args[2];
	struct lpm_key q = { .prefixlen = 32 };
	__u64 *v;
	__u32 *m;

	__builtin_memcpy(q.addr, &v32, 4);
	v = bpf_map_lookup_percpu_elem(&pcpu_array, &key, cpu);
	result(0, v ? *v : -1);
	// Linux 7.2's stack liveness analysis takes peek's value argument as written
	// (true of queues and stacks) and poisons the store before it as dead, though a
	// bloom filter's peek reads it ("slot poisoned by dead code elimination"); a
	// real load of the slot keeps the store alive.
	(void)*(volatile __u32 *)&v32;
	result(1, bpf_map_peek_elem(&bloom, &v32) == 0);
	m = bpf_map_lookup_elem(&lpm, &q);
	result(2, m ? (__s64)*m : -1);
	v = bpf_map_lookup_percpu_elem(&pcpu_hash, &key, cpu);
	result(3, v ? *v : -1);
	v = bpf_map_lookup_elem(&lru, &key);
	result(4, v ? *v : -1);
	return 0;
}

// raw_tp, args (key): results[0] = outer_hash[key][0], [1] = outer_array[key][0].
SEC("raw_tp")
int read_inner(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 key = ctx->args[0], zero = 0;
	void *inner;
	__u64 *v;

	inner = bpf_map_lookup_elem(&outer_hash, &key);
	v = inner ? bpf_map_lookup_elem(inner, &zero) : NULL;
	result(0, v ? *v : -1);
	inner = bpf_map_lookup_elem(&outer_array, &key);
	v = inner ? bpf_map_lookup_elem(inner, &zero) : NULL;
	result(1, v ? *v : -1);
	return 0;
}

// raw_tp: results[0] = popped from the queue, [1] = popped from the stack.
SEC("raw_tp")
int pop_maps(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 v;

	result(0, bpf_map_pop_elem(&queue, &v) == 0 ? v : -1);
	result(1, bpf_map_pop_elem(&stack, &v) == 0 ? v : -1);
	return 0;
}

// tc: under spin[7]'s lock, results[0] = a, results[1] = b; then b += 1.
SEC("tc")
int spin_update(struct __sk_buff *skb)
{
	__u32 key = 7;
	struct locked *lk = bpf_map_lookup_elem(&spin, &key);
	__s64 a = -1, b = -1;

	if (lk) {
		bpf_spin_lock(&lk->lock);
		a = lk->a;
		b = lk->b;
		lk->b += 1;
		bpf_spin_unlock(&lk->lock);
	}
	result(0, a);
	result(1, b);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
