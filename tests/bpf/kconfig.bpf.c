// __kconfig externs, one feature: a strong one (CONFIG_HZ: libbpf must find the
// running kernel's config) and a weak one with a default.  The syscall program
// reports both.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int CONFIG_HZ __kconfig;
extern bool CONFIG_LIBBPFPY_NEVER_SET __kconfig __weak;

struct report {
	__s64 hz;
	__s64 never_set;
};

SEC("syscall")
int report(struct report *ctx)
{
	ctx->hz = CONFIG_HZ;
	ctx->never_set = CONFIG_LIBBPFPY_NEVER_SET;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
