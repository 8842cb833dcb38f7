// The library half of the linker test: a global function and a global variable
// that link_main.bpf.c declares extern.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

int bias = 5;

__noinline int scale(int x)
{
	return x * 7;
}

char LICENSE[] SEC("license") = "GPL";
