// Program streams (libbpf >= 1.6, Linux >= 6.17): a syscall program writes lines to
// its stdout and stderr streams; a global function gives it a second func_info, and
// a global variable shows what prepare() lets user space set before the load.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

// The kfunc is bpf_stream_vprintk() (Linux 6.17, and 7.x again, with the program's
// aux implicit); Linux 6.18 has only bpf_stream_vprintk_impl(), whose fifth argument
// the verifier fills in.  A branch on a kfunc that is absent is never verified.
extern int bpf_stream_vprintk(int stream_id, const char *fmt__str, const void *args,
			      __u32 len__sz) __ksym __weak;
extern int bpf_stream_vprintk_impl(int stream_id, const char *fmt__str, const void *args,
				   __u32 len__sz, void *aux__prog) __ksym __weak;

#ifndef bpf_ksym_exists		/* libbpf < 1.2's bpf_helpers.h */
#define bpf_ksym_exists(sym) (!!(sym))
#endif

#define STDOUT 1
#define STDERR 2

static __always_inline int say(int stream, const char *fmt, __u32 fmt_len, __u64 *args,
			       __u32 args_len)
{
	if (bpf_ksym_exists(bpf_stream_vprintk))
		return bpf_stream_vprintk(stream, fmt, args, args_len);
	if (bpf_ksym_exists(bpf_stream_vprintk_impl))
		return bpf_stream_vprintk_impl(stream, fmt, args, args_len, NULL);
	return -1;
}

struct args {
	int count;
	int written;
	int last_square;
};

int multiplier = 1;

__noinline int square(int x)
{
	return x * x * multiplier;
}

SEC("syscall")
int write_lines(struct args *ctx)
{
	static const char out_fmt[] = "line %d of %d squared %d\n";
	static const char err_fmt[] = "error stream says %d\n";
	__u64 args[3];
	int i, ret = 0;

	for (i = 0; i < 16 && i < ctx->count; i++) {
		args[0] = i;
		args[1] = ctx->count;
		args[2] = ctx->last_square = square(i);
		ret |= say(STDOUT, out_fmt, sizeof(out_fmt), args, sizeof(args));
	}
	args[0] = 42;
	ret |= say(STDERR, err_fmt, sizeof(err_fmt), args, sizeof(args[0]));
	ctx->written = ret;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
