// The libbpfgo walkthrough's program: one ring buffer record per mmap() call.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct process_info {
	int pid;
	char comm[100];
};

/* A global of the event type puts it in the object's BTF, so Python can decode
 * events with event_type="process_info" and no hand-written struct. */
struct process_info _process_info_btf = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_mmap")
int mmap_enter(void *ctx)
{
	struct process_info *info = bpf_ringbuf_reserve(&events, sizeof(*info), 0);

	if (!info)
		return 0;
	info->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&info->comm, sizeof(info->comm));
	bpf_ringbuf_submit(info, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
