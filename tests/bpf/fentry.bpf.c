// fentry/fexit (BPF trampolines), one feature: entry and return of
// hrtimer_nanosleep(), the return counted only when it is 0 (a completed sleep).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "counting.h"

SEC("fentry/hrtimer_nanosleep")
int BPF_PROG(fentry_entry)
{
	return count(0);
}

SEC("fexit/hrtimer_nanosleep")
int BPF_PROG(fexit_return, ktime_t rqtp, int mode, clockid_t clockid, long ret)
{
	return ret == 0 ? count(1) : 0;
}

char LICENSE[] SEC("license") = "GPL";
