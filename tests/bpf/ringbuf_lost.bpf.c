// A tiny ring declared with libbpfpy/ringbuf.h, filled past capacity on demand:
// every reservation that fails is counted in tiny__lost, and by the program itself
// in its arguments, so the test can compare the two.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <libbpfpy/ringbuf.h>

LIBBPFPY_RINGBUF(tiny, 4096);

struct fill_args {
	__u32 count;     /* reservations to try (at most 48) */
	__u32 size;      /* bytes each (8..1024) */
	__u32 reserved;  /* out: how many succeeded */
	__u32 failed;    /* out: how many failed */
};

SEC("syscall")
int fill(struct fill_args *a)
{
	__u32 n = a->count, reserved = 0, failed = 0;

	for (int i = 0; i < 48; i++) {
		if (i >= n)
			break;
		void *rec = libbpfpy_ringbuf_reserve(tiny, 256);
		if (!rec) {
			failed++;
			continue;
		}
		bpf_ringbuf_submit(rec, 0);
		reserved++;
	}
	a->reserved = reserved;
	a->failed = failed;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
