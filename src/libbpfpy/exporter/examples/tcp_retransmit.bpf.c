// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP segments retransmitted, by source and destination address and
 * destination port, from the tcp:tcp_retransmit_skb tracepoint (no kprobes).
 * IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d) so one 16-byte label
 * serves both families (the inet_ip decoder shows them as a.b.c.d).
 *
 * The tracepoint's record was `trace_event_raw_tcp_event_sk_skb` up to Linux
 * 6.x and became `trace_event_raw_tcp_retransmit_skb` when it gained `err`;
 * both flavors are declared here and CO-RE picks the one this kernel has.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "exporter.bpf.h"

#define AF_INET 2
#define AF_INET6 10

struct retransmit_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 dport;
	__u16 family;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct retransmit_key);
	__type(value, __u64);
} tcp_retransmits SEC(".maps");

struct trace_event_raw_tcp_event_sk_skb___old {
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

struct trace_event_raw_tcp_retransmit_skb___new {
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

#define FILL_KEY(key, rec)							\
	do {									\
		(key)->dport = BPF_CORE_READ(rec, dport);			\
		(key)->family = BPF_CORE_READ(rec, family);			\
		if ((key)->family == AF_INET) {					\
			(key)->saddr[10] = (key)->saddr[11] = 0xff;		\
			(key)->daddr[10] = (key)->daddr[11] = 0xff;		\
			bpf_core_read(&(key)->saddr[12], 4, &(rec)->saddr);	\
			bpf_core_read(&(key)->daddr[12], 4, &(rec)->daddr);	\
		} else {							\
			bpf_core_read((key)->saddr, 16, &(rec)->saddr_v6);	\
			bpf_core_read((key)->daddr, 16, &(rec)->daddr_v6);	\
		}								\
	} while (0)

SEC("tracepoint/tcp/tcp_retransmit_skb")
int count_retransmit(void *ctx)
{
	struct retransmit_key key = {};

	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb___new)) {
		struct trace_event_raw_tcp_retransmit_skb___new *rec = ctx;

		FILL_KEY(&key, rec);
	} else {
		struct trace_event_raw_tcp_event_sk_skb___old *rec = ctx;

		FILL_KEY(&key, rec);
	}
	exporter_add(&tcp_retransmits, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
