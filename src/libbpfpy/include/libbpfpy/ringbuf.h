/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libbpfpy/ringbuf.h: ring buffers that count the records they could not take.
 *
 * The kernel keeps no count of failed ring buffer reservations: a program whose
 * bpf_ringbuf_reserve() or bpf_ringbuf_output() fails because the ring is full just
 * loses the event.  Declare the ring with LIBBPFPY_RINGBUF() and reserve or output
 * through the macros below: each failure is counted in a per-CPU array named
 * <ring>__lost next to the ring, and libbpfpy's RingBuffer reports the total as
 * its `lost` attribute.
 *
 *	#include <libbpfpy/ringbuf.h>
 *
 *	LIBBPFPY_RINGBUF(events, 1 << 20);
 *
 *	struct event *e = libbpfpy_ringbuf_reserve(events, sizeof(*e));
 *	if (!e)
 *		return 0;		// counted in events__lost
 *	...
 *	bpf_ringbuf_submit(e, 0);
 *
 * libbpfpy.compile() puts this directory on the include path.  Include it after
 * vmlinux.h (or <linux/bpf.h>) and <bpf/bpf_helpers.h>.
 */
#ifndef __LIBBPFPY_RINGBUF_H
#define __LIBBPFPY_RINGBUF_H

/* A ring buffer `name` of `size` bytes (a power of two, a multiple of the page
 * size) and its counter of lost records, `name##__lost`. */
#define LIBBPFPY_RINGBUF(name, size)					\
	struct {							\
		__uint(type, BPF_MAP_TYPE_RINGBUF);			\
		__uint(max_entries, size);				\
	} name SEC(".maps");						\
	struct {							\
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);		\
		__uint(max_entries, 1);					\
		__type(key, __u32);					\
		__type(value, __u64);					\
	} name##__lost SEC(".maps")

static __always_inline void libbpfpy__count_lost(void *counter)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(counter, &zero);

	if (n)	/* per-CPU, but a program may interrupt another on its CPU */
		__sync_fetch_and_add(n, 1);
}

/* bpf_ringbuf_reserve(&name, size, 0), counting a failure in name##__lost. */
#define libbpfpy_ringbuf_reserve(name, size) ({				\
	void *__libbpfpy_rec = bpf_ringbuf_reserve(&name, size, 0);	\
	if (!__libbpfpy_rec)						\
		libbpfpy__count_lost(&name##__lost);			\
	__libbpfpy_rec; })

/* bpf_ringbuf_output(&name, data, size, flags), counting a failure. */
#define libbpfpy_ringbuf_output(name, data, size, flags) ({		\
	long __libbpfpy_ret = bpf_ringbuf_output(&name, data, size, flags); \
	if (__libbpfpy_ret)						\
		libbpfpy__count_lost(&name##__lost);			\
	__libbpfpy_ret; })

#endif /* __LIBBPFPY_RINGBUF_H */
