// Global variables in every kind of section, for obj.globals and skeleton tests.
// Calls to getpgid() by the process whose pid is in target_pid (0: any process)
// are counted in .bss and reported as struct process_info events.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct process_info {
	int pid;
	char comm[100];
};

struct filter_cfg {
	unsigned int min_pid;
	char tag[8];
	unsigned short flags : 3;
	unsigned short level : 5;
};

/* .rodata: set before load, constant for the verifier afterwards */
const volatile pid_t target_pid = 0;
const volatile struct filter_cfg cfg = { .min_pid = 1, .tag = "dflt", .level = 2 };
const volatile int ro_custom SEC(".rodata.custom") = 7;

/* .data */
int data_counter = 5;
char message[16] = "hello";
long data_custom SEC(".data.custom") = -42;

/* .bss */
__u64 hits = 0;
__u64 last_seen_pid = 0;
struct process_info last_event = {};	/* also puts the event type in BTF */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpgid")
int on_getpgid(void *ctx)
{
	int pid = bpf_get_current_pid_tgid() >> 32;
	struct process_info *info;

	if (target_pid && pid != target_pid)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	last_seen_pid = pid;
	data_counter += ro_custom;
	data_custom -= 1;
	info = bpf_ringbuf_reserve(&events, sizeof(*info), 0);
	if (!info)
		return 0;
	info->pid = pid;
	bpf_get_current_comm(&info->comm, sizeof(info->comm));
	bpf_ringbuf_submit(info, 0);
	return 0;
}

/* Test-run: copies the configuration into .bss so the tests see what BPF sees. */
struct filter_cfg seen_cfg = {};
pid_t seen_target = 0;
char seen_message[16] = {};

SEC("syscall")
int snapshot(void *ctx)
{
	seen_cfg.min_pid = cfg.min_pid;
	for (int i = 0; i < sizeof(seen_cfg.tag); i++)
		seen_cfg.tag[i] = cfg.tag[i];	/* volatile reads: not folded */
	seen_cfg.flags = cfg.flags;
	seen_cfg.level = cfg.level;
	seen_target = target_pid;
	__builtin_memcpy(seen_message, message, sizeof(seen_message));
	return data_counter;
}

char LICENSE[] SEC("license") = "GPL";
