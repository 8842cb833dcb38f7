// Maps whose keys and values exercise every typed decoder in bulk reads: per-CPU
// values that need padding to 8-byte slots, struct keys, enums, bools, signed ints
// and char arrays.  `fill` (a syscall program) writes `n` entries derived from the
// index into each, so bulk reads are checked against what BPF wrote.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum color { RED = 1, GREEN = 2, BLUE = 300 };

struct tri {                    /* 6 bytes: per-CPU slots of 8 */
	__u16 a, b, c;
};

struct skey {
	__u32 hi;
	__u16 lo;
	__u16 pad;
};

struct rec {
	__u64 id;
	char name[8];
	enum color color;
	_Bool on;
	__s16 delta;
};

struct fill_args {
	__u32 n;
	__u32 cpu;
};

#define KV(t, n, k, v, max)                                                   \
	struct {                                                              \
		__uint(type, t);                                              \
		__uint(max_entries, max);                                     \
		__type(key, k);                                               \
		__type(value, v);                                             \
	} n SEC(".maps")

KV(BPF_MAP_TYPE_PERCPU_HASH, pc_tri, __u32, struct tri, 64);
KV(BPF_MAP_TYPE_LRU_PERCPU_HASH, lru_pc, __u32, __u64, 64);
KV(BPF_MAP_TYPE_HASH, recs, struct skey, struct rec, 64);
KV(BPF_MAP_TYPE_ARRAY, arr_rec, __u32, struct rec, 8);
KV(BPF_MAP_TYPE_HASH, signed_vals, __u32, __s32, 64);
KV(BPF_MAP_TYPE_PERCPU_ARRAY, pc_arr, __u32, __u32, 4);

SEC("syscall")
int fill(struct fill_args *ctx)
{
	__u32 n = ctx->n;

	for (__u32 i = 0; i < 32; i++) {
		__u32 key = i;

		if (i >= n)
			break;
		struct tri t = { .a = i, .b = i * 2, .c = 0xffff - i };
		struct skey k = { .hi = i * 1000, .lo = i };
		struct rec r = {
			.id = 1ULL << 40 | i,
			.color = i % 3 == 0 ? RED : i % 3 == 1 ? GREEN : BLUE,
			.on = i & 1,
			.delta = -(__s16)i,
		};
		__s32 s = -(__s32)i * 7;
		__u64 v = i * 11;
		__u32 small = i + 100;

		__builtin_memcpy(r.name, "rec-", 4);
		r.name[4] = '0' + i % 10;
		bpf_map_update_elem(&pc_tri, &key, &t, BPF_ANY);
		bpf_map_update_elem(&lru_pc, &key, &v, BPF_ANY);
		bpf_map_update_elem(&recs, &k, &r, BPF_ANY);
		if (i < 8)
			bpf_map_update_elem(&arr_rec, &key, &r, BPF_ANY);
		bpf_map_update_elem(&signed_vals, &key, &s, BPF_ANY);
		if (i < 4)
			bpf_map_update_elem(&pc_arr, &key, &small, BPF_ANY);
	}
	ctx->cpu = bpf_get_smp_processor_id();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
