// Object-level features: a pinned-by-name map, Kconfig externs, a declared
// kernel version, and programs with and without an auto-attach target.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int CONFIG_LIBBPFPY_TEST __kconfig __weak;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} scratch SEC(".maps");

struct report {
	__s64 kconfig_test;
	__u64 kernel_version;
	__u64 pinned0;
};

// Reports what load resolved and what the pinned map holds at 0, then adds one.
SEC("syscall")
int report(struct report *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&pinned_counts, &zero);
	__s64 kc = CONFIG_LIBBPFPY_TEST;
	__u64 kv = LINUX_KERNEL_VERSION, p0 = 0;

	if (v) {
		p0 = *v;
		__sync_fetch_and_add(v, 1);
	}
	ctx->kconfig_test = kc;
	ctx->kernel_version = kv;
	ctx->pinned0 = p0;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 one = 1;
	__u64 *v = bpf_map_lookup_elem(&pinned_counts, &one);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("xdp")
int no_target_xdp(struct xdp_md *ctx)
{
	return 2;
}

SEC("uprobe")
int no_target_uprobe(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_exit")
int on_sys_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x050a07;
