// fmod_ret, one feature: getsid() of the target process returns 4242 without the
// security check's verdict mattering.  Debian's kernels have no
// CONFIG_FUNCTION_ERROR_INJECTION, so system calls are not on the error-injection
// list; the kernel allows fmod_ret on its security_* hooks regardless.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "counting.h"

SEC("fmod_ret/security_task_getsid")
int BPF_PROG(fake_getsid, struct task_struct *p, int ret)
{
	if (!is_target())
		return 0;  // 0: the hook's own verdict stands
	count(0);
	return 4242;  // do_getsid() returns a non-zero verdict as is
}

char LICENSE[] SEC("license") = "GPL";
