// The C reference for bench_startup.py: mmapsnoop's own BPF object loaded with the
// plain libbpf API, the way a libbpf-tools program does it -- open, keep the
// tracepoint pair, load, attach, read the ring buffer.  Prints "tracing" on
// stderr once attached, one line per event on stdout, stops on SIGINT.
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

struct event_head {		/* struct event of mmapsnoop.h, up to the path */
	uint64_t ts;
	int64_t ret;
	uint64_t addr, len, off;
	uint32_t pid, tid, uid, prot, flags;
	int32_t fd;
	uint16_t path_len, path_flags;
	uint32_t reserved;
	char comm[16];
	char path[];
};

static volatile sig_atomic_t stop;
static unsigned long long count;

static void on_sigint(int sig)
{
	(void)sig;
	stop = 1;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event_head *e = data;
	char path[4096 + 2] = "";
	size_t n = e->path_len, end = n, at = 0;

	(void)ctx, (void)size;
	/* components come innermost first, NUL-terminated: join them outermost first */
	while (end > 0 && at < sizeof(path) - 2) {
		size_t start = end - 1;
		while (start > 0 && e->path[start - 1])
			start--;
		path[at++] = '/';
		for (size_t i = start; i < end - 1 && at < sizeof(path) - 1; i++)
			path[at++] = e->path[i];
		end = start;
	}
	path[at] = 0;
	count++;
	printf("%llu %u %u %.16s %llx %llu %u %u %d %llu %s\n",
	       (unsigned long long)e->ts, e->pid, e->tid, e->comm,
	       (unsigned long long)e->ret, (unsigned long long)e->len, e->prot, e->flags,
	       e->fd, (unsigned long long)e->off, path);
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *links[2] = {0};
	struct ring_buffer *rb = NULL;
	int i = 0, err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s mmapsnoop.bpf.o\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open: %s\n", strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		const char *name = bpf_program__name(prog);
		bpf_program__set_autoload(prog, !strcmp(name, "mmap_enter_tp") ||
					  !strcmp(name, "mmap_exit_tp"));
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog))
			continue;
		links[i] = bpf_program__attach(prog);
		if (!links[i++]) {
			fprintf(stderr, "attach: %s\n", strerror(errno));
			return 1;
		}
	}
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), on_event,
			      NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring buffer: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_sigint);
	fprintf(stderr, "tracing\n");
	while (!stop) {
		err = ring_buffer__poll(rb, 500);
		if (err < 0 && err != -EINTR)
			break;
		fflush(stdout);
	}
	fprintf(stderr, "%llu events\n", count);
	ring_buffer__free(rb);
	for (i = 0; i < 2; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return 0;
}
