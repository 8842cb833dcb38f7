// The libbpfgo walkthrough's program: one ring buffer record per mmap() call.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <libbpfpy/ringbuf.h>   /* events__lost counts what the ring had no room for */

struct process_info {
	int pid;
	char comm[100];
};

/* A global of the event type puts it in the object's BTF, so Python can decode
 * events with event_type="process_info" and no hand-written struct. */
struct process_info _process_info_btf = {};

LIBBPFPY_RINGBUF(events, 1 << 24);

SEC("tracepoint/syscalls/sys_enter_mmap")
int mmap_enter(void *ctx)
{
	struct process_info *info = libbpfpy_ringbuf_reserve(events, sizeof(*info));

	if (!info)
		return 0;
	info->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&info->comm, sizeof(info->comm));
	bpf_ringbuf_submit(info, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
