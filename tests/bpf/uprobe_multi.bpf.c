// uprobe_multi programs (libbpf >= 1.3, Linux >= 6.6): count hits by attach cookie,
// and the returns with the sum of the values returned.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} by_cookie SEC(".maps");

__u64 returns;
__u64 returned_sum;

SEC("uprobe.multi")
int um_entry(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), one = 1, *v;

	v = bpf_map_lookup_elem(&by_cookie, &cookie);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&by_cookie, &cookie, &one, BPF_NOEXIST);
	return 0;
}

SEC("uretprobe.multi")
int um_return(struct pt_regs *ctx)
{
	__sync_fetch_and_add(&returns, 1);
	__sync_fetch_and_add(&returned_sum, (int)PT_REGS_RC(ctx));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
