// kprobes, one feature: entry and return of hrtimer_nanosleep() (every nanosleep
// and clock_nanosleep goes through it once), the getppid syscall by name, and a
// hand-attached probe that adds its attach cookie.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "counting.h"

SEC("kprobe/hrtimer_nanosleep")
int kprobe_entry(void *ctx)
{
	return count(0);
}

SEC("kretprobe/hrtimer_nanosleep")
int kprobe_return(void *ctx)
{
	return count(1);
}

SEC("ksyscall/getppid")
int ksyscall_entry(void *ctx)
{
	return count(2);
}

SEC("kretsyscall/getppid")
int ksyscall_return(void *ctx)
{
	return count(3);
}

SEC("kprobe")
int kprobe_cookie(struct pt_regs *ctx)
{
	return count_by(4, bpf_get_attach_cookie(ctx));
}

char LICENSE[] SEC("license") = "GPL";
