// A stream verdict program for sockmap links (libbpf >= 1.5, Linux >= 6.10): counts
// the bytes it passes to the sockets of sock_map.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define SK_PASS 1

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} sock_map SEC(".maps");

__u64 bytes;
__u64 calls;

SEC("sk_skb/stream_verdict")
int verdict(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&bytes, skb->len);
	__sync_fetch_and_add(&calls, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
