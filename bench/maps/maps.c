// The C reference for bench_maps.py: fill and dump a u32 -> u64 hash map of N
// entries with the plain libbpf API, element by element and in batches.
// usage: maps N [N ...]        (CHUNK=entries per lookup_batch call, default all)
// Prints one JSON line: {"N": {"fill_entry": ns/entry, ...}, ..., "maxrss_kb": ...}.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int create(unsigned int n)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "bench", 4, 8, n, NULL);

	if (fd < 0) {
		fprintf(stderr, "bpf_map_create: %s\n", strerror(-fd));
		exit(1);
	}
	return fd;
}

static void check(const char *what, unsigned long got, unsigned long want)
{
	if (got != want) {
		fprintf(stderr, "%s: %lu entries, expected %lu\n", what, got, want);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const char *env = getenv("CHUNK");
	int first = 1;

	printf("{");
	for (int a = 1; a < argc; a++) {
		unsigned int n = strtoul(argv[a], NULL, 10);
		unsigned int chunk = env ? strtoul(env, NULL, 10) : n + 1;
		double t0, fill_entry, fill_batch, dump_entry, dump_batch;
		int fa = create(n), fb = create(n);
		unsigned long got = 0;

		t0 = now();
		for (__u32 k = 0; k < n; k++) {
			__u64 v = (__u64)k * 3;

			if (bpf_map_update_elem(fa, &k, &v, BPF_ANY)) {
				perror("update");
				return 1;
			}
		}
		fill_entry = now() - t0;

		__u32 *keys = malloc((size_t)(n + 1) * 4);
		__u64 *vals = malloc((size_t)(n + 1) * 8);
		for (__u32 k = 0; k < n; k++) {
			keys[k] = k;
			vals[k] = (__u64)k * 3;
		}
		__u32 count = n;
		t0 = now();
		if (bpf_map_update_batch(fb, keys, vals, &count, NULL)) {
			perror("update_batch");
			return 1;
		}
		fill_batch = now() - t0;
		check("update_batch", count, n);
		free(keys);
		free(vals);

		// element by element: get_next_key + lookup
		t0 = now();
		__u32 key, next;
		__u64 value, sum = 0;
		void *prev = NULL;
		while (bpf_map_get_next_key(fa, prev, &next) == 0) {
			if (bpf_map_lookup_elem(fa, &next, &value) == 0) {
				sum += value;
				got++;
			}
			key = next;
			prev = &key;
		}
		dump_entry = now() - t0;
		check("get_next_key+lookup", got, n);

		// batches of `chunk` entries into freshly allocated arrays
		t0 = now();
		keys = malloc((size_t)chunk * 4);
		vals = malloc((size_t)chunk * 8);
		__u32 in_batch = 0, out_batch = 0;
		int err = 0, start = 1;
		got = 0;
		do {
			count = chunk;
			err = bpf_map_lookup_batch(fb, start ? NULL : &in_batch, &out_batch, keys,
						   vals, &count, NULL);
			if (err && errno != ENOENT) {
				perror("lookup_batch");
				return 1;
			}
			got += count;
			in_batch = out_batch;
			start = 0;
		} while (!err);
		dump_batch = now() - t0;
		check("lookup_batch", got, n);
		free(keys);
		free(vals);
		close(fa);
		close(fb);
		printf("%s\"%u\": {\"fill_entry\": %.1f, \"fill_batch\": %.1f, "
		       "\"dump_entry\": %.1f, \"dump_batch\": %.1f, \"sum\": %llu}",
		       first ? "" : ", ", n, fill_entry / n * 1e9, fill_batch / n * 1e9,
		       dump_entry / n * 1e9, dump_batch / n * 1e9, (unsigned long long)sum);
		first = 0;
	}
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("%s\"maxrss_kb\": %ld}\n", first ? "" : ", ", ru.ru_maxrss);
	return 0;
}
