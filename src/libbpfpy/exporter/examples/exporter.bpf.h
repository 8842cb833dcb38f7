/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * exporter.bpf.h: counting helpers for BPF programs whose maps libbpfpy's
 * exporter reads (`libbpfpy exporter`).  Include it after vmlinux.h and
 * <bpf/bpf_helpers.h>; the exporter passes its directory to clang.
 *
 * Counters: a map from a key (the labels) to a __u64 count.
 * Histograms: a map from a key (the labels, then a slot number) to a __u64
 * count of the observations in that slot; the slot with every bit set holds the
 * sum of the observed values (exported as the histogram's _sum).  A slot above
 * the config's bucket_max counts only towards +Inf.
 */
#ifndef LIBBPFPY_EXPORTER_BPF_H
#define LIBBPFPY_EXPORTER_BPF_H

/* Add n to the count at key, creating the entry if it is missing. */
static __always_inline void exporter_add(void *map, const void *key, __u64 n)
{
	__u64 *count = bpf_map_lookup_elem(map, key);

	if (count) {
		__sync_fetch_and_add(count, n);
		return;
	}
	/* Two CPUs may both miss: the one whose create loses adds to the winner's. */
	if (bpf_map_update_elem(map, key, &n, BPF_NOEXIST) == 0)
		return;
	count = bpf_map_lookup_elem(map, key);
	if (count)
		__sync_fetch_and_add(count, n);
}

/* floor(log2(v)) for v > 0 (0 for v == 0), without loops. */
static __always_inline __u32 exporter_log2_32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 exporter_log2(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? exporter_log2_32(hi) + 32 : exporter_log2_32(v);
}

/* The exp2 slot of v: the smallest n with v <= 2^n (bucket bound 2^n). */
static __always_inline __u32 exporter_exp2_slot(__u64 v)
{
	return v <= 1 ? 0 : exporter_log2(v - 1) + 1;
}

/* The linear slot of v for buckets `width` wide: the smallest n with
 * v <= n * width (the config's bucket_multiplier is then `width`, in the
 * exported unit). */
static __always_inline __u32 exporter_linear_slot(__u64 v, __u64 width)
{
	return (v + width - 1) / width;
}

/*
 * Record one observation of `value` in histogram `map`: `key` is a pointer to
 * the key struct, whose field `slot` is set here (to `slot_nr`, capped at
 * max_slot + 1), then to all ones for the sum.
 */
#define exporter_observe(map, key, slot_field, slot_nr, max_slot, value)	\
	({									\
		__u64 __v = (value);						\
		__u32 __s = (slot_nr);						\
		(key)->slot_field = __s > (max_slot) ? (max_slot) + 1 : __s;	\
		exporter_add(map, key, 1);					\
		(key)->slot_field = ~0;						\
		exporter_add(map, key, __v);					\
	})

#endif /* LIBBPFPY_EXPORTER_BPF_H */
