// A small user-space program for the uprobe and USDT tests: calls
// libbpfpy_target(i) and fires the USDT probe libbpfpy:tick(i, 42) argv[1] times.
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

__attribute__((noinline)) int libbpfpy_target(int x)
{
	__asm__ volatile("" ::: "memory");  // keep the call: the uprobe needs it
	return x * 2 + 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	int total = 0;

	for (int i = 0; i < n; i++) {
		DTRACE_PROBE2(libbpfpy, tick, i, 42);
		total += libbpfpy_target(i);
	}
	printf("%d\n", total);
	return 0;
}
