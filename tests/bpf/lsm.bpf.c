// BPF LSM, one feature: the target process may not open the file whose inode is
// target_ino (EPERM); every denial is counted.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counting.h"

const volatile __u64 target_ino = 0;

SEC("lsm/file_open")
int BPF_PROG(deny_open, struct file *file, int ret)
{
	if (ret)
		return ret;  // an earlier LSM already decided
	if (!is_target() || BPF_CORE_READ(file, f_inode, i_ino) != target_ino)
		return 0;
	count(0);
	return -1;  // -EPERM
}

char LICENSE[] SEC("license") = "GPL";
