// Programs whose attach paths this kernel lacks (no CONFIG_KPROBES; fentry,
// fexit, LSM and freplace refused): the tests check the errors they produce.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

// Attached first by Object.attach(), before the kprobe fails.
SEC("tracepoint/syscalls/sys_enter_getppid")
int tp_first(void *ctx)
{
	return 0;
}

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(kp_nanosleep)
{
	return 0;
}

SEC("kretprobe/do_nanosleep")
int BPF_KRETPROBE(krp_nanosleep)
{
	return 0;
}

SEC("ksyscall/nanosleep")
int ks_nanosleep(void *ctx)
{
	return 0;
}

SEC("kprobe.multi/do_nano*")
int kpm_nanosleep(void *ctx)
{
	return 0;
}

SEC("kprobe")
int kp_manual(void *ctx)
{
	return 0;
}

SEC("fentry/do_nanosleep")
int BPF_PROG(fentry_nanosleep)
{
	return 0;
}

SEC("fexit/do_nanosleep")
int BPF_PROG(fexit_nanosleep)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
