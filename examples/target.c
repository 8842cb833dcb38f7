// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The program the uprobe, usdt and profile examples trace.
 *
 *   target calls [N]   call add_numbers(i, 2 * i) and fire the USDT probe
 *                      libbpfpy_target:tick(i, "tick") every 50 ms, N times
 *                      (default: until killed)
 *   target spin [SECS] burn CPU in spin() for SECS seconds (default: until
 *                      killed), much of the time inside getppid(2), so that
 *                      samples land in both user space and the kernel
 *
 * Prints "ready <pid>" once started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) int add_numbers(int a, int b)
{
	return a + b;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) unsigned long spin(double seconds)
{
	volatile unsigned long x = 0;
	double end = now() + seconds;

	while (seconds <= 0 || now() < end) {
		for (int i = 0; i < 100000; i++)
			x += i * i;
		for (int i = 0; i < 5000; i++)
			syscall(SYS_getppid);
	}
	return x;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "calls";
	long n = argc > 2 ? atol(argv[2]) : -1;
	volatile int sum = 0;

	printf("ready %d\n", getpid());
	fflush(stdout);
	if (!strcmp(mode, "spin")) {
		spin(n);
		return 0;
	}
	for (long i = 0; n < 0 || i < n; i++) {
		sum += add_numbers(i, 2 * i);
		DTRACE_PROBE2(libbpfpy_target, tick, i, "tick");
		usleep(50000);
	}
	return sum == -1;
}
