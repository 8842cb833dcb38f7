// A user-space program for the uprobe_multi tests: waits for a line on stdin (so
// the test can attach to its pid first), then calls mt_alpha once, mt_beta twice
// and mt_gamma three times per round, argv[1] rounds, and prints the sum of what
// they returned.
#include <stdio.h>
#include <stdlib.h>

#define KEEP __attribute__((noinline, used))

KEEP int mt_alpha(int x) { __asm__ volatile("" ::: "memory"); return x + 1; }
KEEP int mt_beta(int x) { __asm__ volatile("" ::: "memory"); return x + 10; }
KEEP int mt_gamma(int x) { __asm__ volatile("" ::: "memory"); return x + 100; }
KEEP int other_function(int x) { __asm__ volatile("" ::: "memory"); return x; }

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	long total = 0;
	char line[16];

	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int r = 0; r < rounds; r++) {
		total += mt_alpha(r);
		for (int i = 0; i < 2; i++)
			total += mt_beta(r);
		for (int i = 0; i < 3; i++)
			total += mt_gamma(r);
		total += other_function(r);
	}
	printf("%ld\n", total);
	return 0;
}
