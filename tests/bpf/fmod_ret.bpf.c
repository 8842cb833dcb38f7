// fmod_ret, one feature: getppid() of the target process returns 4242 without
// running (system calls are on the kernel's error-injection list).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "counting.h"

#if defined(__TARGET_ARCH_x86)
#define SYS_GETPPID "__x64_sys_getppid"
#elif defined(__TARGET_ARCH_arm64)
#define SYS_GETPPID "__arm64_sys_getppid"
#else
#error "fmod_ret fixture: no syscall symbol for this architecture"
#endif

SEC("fmod_ret/" SYS_GETPPID)
int BPF_PROG(fake_getppid, struct pt_regs *regs, int ret)
{
	if (!is_target())
		return 0;  // 0: run the real function
	count(0);
	return 4242;
}

char LICENSE[] SEC("license") = "GPL";
