// kprobe_multi (fprobe) links, one feature: by section, and a hand-attached
// program that adds the cookie of whichever function fired.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "counting.h"

SEC("kprobe.multi/hrtimer_nanosleep")
int multi_entry(void *ctx)
{
	return count(0);
}

SEC("kretprobe.multi/hrtimer_nanosleep")
int multi_return(void *ctx)
{
	return count(1);
}

SEC("kprobe.multi")
int multi_cookie(struct pt_regs *ctx)
{
	return count_by(2, bpf_get_attach_cookie(ctx));
}

char LICENSE[] SEC("license") = "GPL";
