// The reference consumer: libbpf's ring_buffer__poll() with an empty callback.
// usage: consumer OBJ LOOP_BINARY SECONDS MODE   (MODE 0: fixed, 1: variable size)
// Prints one JSON line: consumed, produced, dropped, elapsed_s, cpu_s, maxrss_kb.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static unsigned long long consumed;

static int on_event(void *ctx, void *data, size_t size)
{
	consumed++;
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void counters(int fd, unsigned long long *out)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long vals[ncpu];

	for (unsigned int k = 0; k < 2; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals) == 0)
			for (int c = 0; c < ncpu; c++)
				out[k] += vals[c];
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s OBJ LOOP SECONDS MODE\n", argv[0]);
		return 2;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s\n", argv[1]);
		return 1;
	}
	struct bpf_link *link = bpf_program__attach(
		bpf_object__find_program_by_name(obj, "on_getppid"));
	if (!link) {
		fprintf(stderr, "cannot attach: %s\n", strerror(errno));
		return 1;
	}
	int pipefd[2];
	if (pipe(pipefd))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		dup2(pipefd[0], 0);
		close(pipefd[1]);
		execl(argv[2], argv[2], argv[3], (char *)NULL);
		_exit(127);
	}
	close(pipefd[0]);
	unsigned int k0 = 0, k1 = 1, pid = child, mode = atoi(argv[4]);
	int cfg = bpf_map__fd(bpf_object__find_map_by_name(obj, "bench_config"));
	int cnt = bpf_map__fd(bpf_object__find_map_by_name(obj, "counts"));
	bpf_map_update_elem(cfg, &k0, &pid, 0);
	bpf_map_update_elem(cfg, &k1, &mode, 0);
	struct ring_buffer *rb = ring_buffer__new(
		bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_event, NULL, NULL);
	if (!rb)
		return 1;

	double cpu0 = cpu_seconds(), t0 = now(), t_end = 0;
	int done = 0;
	unsigned long long c[2] = {0, 0};

	if (write(pipefd[1], "g", 1) != 1)
		return 1;
	for (;;) {
		ring_buffer__poll(rb, 100);
		if (!done && waitpid(child, NULL, WNOHANG) == child)
			done = 1;
		if (done) {
			counters(cnt, c);
			if (consumed >= c[0] - c[1] || now() - t0 > 60) {
				t_end = now();
				break;
			}
		}
	}
	double cpu = cpu_seconds() - cpu0;
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("{\"consumed\": %llu, \"produced\": %llu, \"dropped\": %llu, "
	       "\"elapsed_s\": %.6f, \"cpu_s\": %.6f, \"maxrss_kb\": %ld}\n",
	       consumed, c[0], c[1], t_end - t0, cpu, ru.ru_maxrss);
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
