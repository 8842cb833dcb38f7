// The floor of a scrape's map read: libbpf's bpf_map_lookup_batch() over a whole
// map, in C, with the chunk size the exporter uses.
// usage: dump MAP_ID RUNS    Prints one JSON line: entries, median_s, min_s.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#define CHUNK 8192

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	int fd, runs, r;
	double *times;
	long entries = 0;
	char *keys, *values;

	if (argc != 3)
		return 2;
	fd = bpf_map_get_fd_by_id(atoi(argv[1]));
	runs = atoi(argv[2]);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return 1;
	keys = malloc((size_t)info.key_size * CHUNK);
	values = malloc((size_t)info.value_size * CHUNK);
	times = calloc(runs, sizeof(double));
	for (r = 0; r < runs; r++) {
		__u64 in = 0, out = 0;
		void *in_p = NULL;
		double t0 = now();

		entries = 0;
		for (;;) {
			__u32 count = CHUNK;
			int err = bpf_map_lookup_batch(fd, in_p, &out, keys, values, &count, NULL);

			if (err && errno != ENOENT)
				return 1;
			entries += count;
			if (err)
				break;
			in = out;
			in_p = &in;
		}
		times[r] = now() - t0;
	}
	qsort(times, runs, sizeof(double), cmp);
	printf("{\"entries\": %ld, \"median_s\": %.6f, \"min_s\": %.6f}\n", entries,
	       times[runs / 2], times[0]);
	return 0;
}
