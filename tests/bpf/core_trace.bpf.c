// Tracing programs of the core tests.  Each counts the events of one process,
// whose tgid Python writes into cfg_map[CFG_PID] (so every test also proves that
// BPF reads what Python wrote), in its own slot of `hits`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

enum { CFG_PID, CFG_SYSCALL_NR, CFG_MAX };
enum { HIT_TP, HIT_RAW_TP, HIT_TP_BTF, HIT_PERF, HIT_UPROBE, HIT_URETPROBE, HIT_USDT,
       HIT_UPROBE_ANY, HIT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CFG_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cfg_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HIT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

// tgid -> getppid calls seen by the tracepoint program
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

// what the uprobes saw: [0] last argument, [1] last return value, [2] last pid,
// [3] usdt first argument, [4] usdt second argument, [5] usdt cookie
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 6);
	__type(key, __u32);
	__type(value, __s64);
} seen SEC(".maps");

static __always_inline __u64 cfg(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&cfg_map, &idx);

	return v ? *v : 0;
}

static __always_inline bool is_target(void)
{
	__u64 want = cfg(CFG_PID);

	return want && (bpf_get_current_pid_tgid() >> 32) == want;
}

static __always_inline void hit(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &idx);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void put(__u32 idx, __s64 value)
{
	bpf_map_update_elem(&seen, &idx, &value, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tp_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *n;

	if (!is_target())
		return 0;
	hit(HIT_TP);
	n = bpf_map_lookup_elem(&calls, &tgid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&calls, &tgid, &one, BPF_NOEXIST);
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (is_target() && ctx->args[1] == cfg(CFG_SYSCALL_NR))
		hit(HIT_RAW_TP);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(btf_sys_enter, struct pt_regs *regs, long id)
{
	if (is_target() && id == cfg(CFG_SYSCALL_NR))
		hit(HIT_TP_BTF);
	return 0;
}

SEC("perf_event")
int on_cpu_clock(struct bpf_perf_event_data *ctx)
{
	if (is_target())
		hit(HIT_PERF);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_target_entry, int arg)
{
	if (!is_target())
		return 0;
	hit(HIT_UPROBE);
	put(0, arg);
	put(2, bpf_get_current_pid_tgid() >> 32);
	return 0;
}

// No pid filter of its own: what it counts is limited only by the attach's pid=.
SEC("uprobe")
int BPF_KPROBE(on_target_any, int arg)
{
	hit(HIT_UPROBE_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_target_return, int ret)
{
	if (!is_target())
		return 0;
	hit(HIT_URETPROBE);
	put(1, ret);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_usdt_tick, int i, int magic)
{
	if (!is_target())
		return 0;
	hit(HIT_USDT);
	put(3, i);
	put(4, magic);
	put(5, bpf_usdt_cookie(ctx));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
