/* Packet header constants the network examples share (not in vmlinux.h: macros). */
#ifndef EXAMPLES_NET_H
#define EXAMPLES_NET_H

#define ETH_P_IP 0x0800
#define ETH_HLEN 14
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define TC_ACT_OK 0

#endif /* EXAMPLES_NET_H */
