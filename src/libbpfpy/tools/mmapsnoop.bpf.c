// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mmapsnoop: one event per mmap() call, entry paired with exit by thread id.
 *
 * Three ways in, of which user space loads exactly one pair (the others have
 * autoload off): fentry/fexit on the syscall's entry function (target set at
 * run time), kprobe/kretprobe on the syscall (attached with attach_ksyscall),
 * or the syscalls:sys_{enter,exit}_mmap tracepoints.  All of them feed the same
 * two functions below.
 *
 * At entry the file behind the fd is looked up in the task's fd table and its
 * path is built by walking dentries up to the root, crossing mounts, so that
 * the path is right even if the fd is closed as soon as mmap() returns.
 *
 * Filters are read-only globals set by user space before load: after load the
 * verifier sees them as constants and drops the checks that do not apply.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <libbpfpy/ringbuf.h>
#include "mmapsnoop.h"

#define MAP_ANONYMOUS 0x20
#define INVALID_UID ((__u32)-1)
#define MAX_ERRNO 4095
#define ANON_INODE_FS_MAGIC 0x09041934

const volatile __u32 targ_pid = 0;		/* process (tgid); 0: any */
const volatile __u32 targ_tid = 0;		/* thread; 0: any */
const volatile __u32 targ_uid = INVALID_UID;	/* user; INVALID_UID: any */
const volatile char targ_comm[TASK_COMM_LEN] = {};	/* command-name substring */
const volatile __u32 targ_comm_len = 0;		/* its length; 0: no filter */
const volatile bool targ_failed = false;	/* only calls that failed */
const volatile __u32 targ_kind = 0;		/* 0: all, 1: anonymous, 2: file-backed */
const volatile __u32 skip_pid = 0;		/* a process left out (mmapsnoop's own); 0: none */

/* Counted here, read by user space while running. */
__u64 missed = 0;	/* calls lost: too many threads inside mmap() at once */

/* The events, and in events__lost those dropped because the ring was full
 * (user space sets the size from --ringbuf-size). */
LIBBPFPY_RINGBUF(events, 1 << 20);

/* Calls in flight: thread id -> the event filled in at entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct event);
} starts SEC(".maps");

/* Per-CPU scratch where the entry event is built before it goes into starts. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

static __always_inline bool comm_matches(const char *comm)
{
	__u32 n = targ_comm_len;
	int i, j;

	if (!n)
		return true;
	for (i = 0; i < TASK_COMM_LEN; i++) {
		if (i + n > TASK_COMM_LEN - 1)
			return false;
		for (j = 0; j < TASK_COMM_LEN - 1; j++) {
			if (j >= n)
				return true;
			if (comm[(i + j) & (TASK_COMM_LEN - 1)] != targ_comm[j])
				break;
		}
		if (j >= n)
			return true;
	}
	return false;
}

static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct file **table;
	struct file *file = NULL;
	struct fdtable *fdt;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	table = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &table[fd]))
		return NULL;
	return file;
}

/*
 * Write the components of file's path into e->path, innermost first.  The
 * running length lives in e->path_len (map memory) rather than in a register,
 * so that the verifier sees the same state on every trip round the loop
 * instead of a different range for each combination of name lengths.
 */
static __always_inline void read_path(struct event *e, struct file *file)
{
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	struct dentry *parent;
	__u32 off;
	long n;
	int i;

	e->path_len = 0;
	e->path_flags = PATH_FILE;
	if (dentry && BPF_CORE_READ(dentry, d_parent) != dentry &&
	    !BPF_CORE_READ(dentry, d_hash.pprev))
		e->path_flags |= PATH_DELETED;
	for (i = 0; i < MAX_DEPTH; i++) {
		if (!dentry)
			return;
		parent = BPF_CORE_READ(dentry, d_parent);
		if (dentry == BPF_CORE_READ(vfsmnt, mnt_root)) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up == mnt || !up)
				return;	/* the root of the mount tree */
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vfsmnt = (void *)up + bpf_core_field_offset(struct mount, mnt);
			continue;
		}
		off = e->path_len;
		if (dentry == parent) {
			/*
			 * The root of a filesystem mounted nowhere: a pseudo file
			 * (anon inode, socket, pipe ...) is its own root, and is
			 * named by its name alone.  Deeper, the path is cut short.
			 */
			if (off)
				break;
			e->path_flags |= PATH_PSEUDO;
			if (BPF_CORE_READ(dentry, d_sb, s_magic) == ANON_INODE_FS_MAGIC)
				e->path_flags |= PATH_ANON_INODE;
			n = bpf_probe_read_kernel_str(e->path, NAME_CHUNK,
						      BPF_CORE_READ(dentry, d_name.name));
			e->path_len = n > 0 ? n : 0;
			return;
		}
		if (off > PATH_BUF - NAME_CHUNK)
			break;
		n = bpf_probe_read_kernel_str(&e->path[off & (PATH_BUF - 1)], NAME_CHUNK,
					      BPF_CORE_READ(dentry, d_name.name));
		if (n <= 0)
			break;
		e->path_len = off + n;
		dentry = parent;
	}
	e->path_flags |= PATH_TRUNCATED;
}

static __always_inline int on_enter(__u64 addr, __u64 len, __u64 prot, __u64 flags,
				    __u64 fd, __u64 off)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 pid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u32 zero = 0;
	struct task_struct *task;
	struct event *e;
	struct file *file;

	if (targ_pid && pid != targ_pid)
		return 0;
	if (skip_pid && pid == skip_pid)
		return 0;
	if (targ_tid && tid != targ_tid)
		return 0;
	if (targ_uid != INVALID_UID && uid != targ_uid)
		return 0;
	if (targ_kind == 1 && !(flags & MAP_ANONYMOUS))
		return 0;
	if (targ_kind == 2 && (flags & MAP_ANONYMOUS))
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (!comm_matches(e->comm))
		return 0;
	e->ts = bpf_ktime_get_ns();
	e->ret = 0;
	e->addr = addr;
	e->len = len;
	e->off = off;
	e->pid = pid;
	e->tid = tid;
	e->uid = uid;
	e->prot = prot;
	e->flags = flags;
	e->fd = (int)fd;
	e->path_len = 0;
	e->path_flags = 0;
	e->reserved = 0;
	if (!(flags & MAP_ANONYMOUS)) {
		task = (struct task_struct *)bpf_get_current_task();
		file = fd_file(task, (int)fd);
		if (file)
			read_path(e, file);
	}
	if (bpf_map_update_elem(&starts, &tid, e, BPF_ANY))
		__sync_fetch_and_add(&missed, 1);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct event *e;
	__u32 size;

	e = bpf_map_lookup_elem(&starts, &tid);
	if (!e)
		return 0;
	if (targ_failed && !(ret < 0 && ret >= -MAX_ERRNO))
		goto out;
	e->ret = ret;
	size = e->path_len;
	if (size > PATH_BUF)
		size = PATH_BUF;
	libbpfpy_ringbuf_output(events, e, offsetof(struct event, path) + size, 0);
out:
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

/* -- tracepoints ------------------------------------------------------------------ */

SEC("tracepoint/syscalls/sys_enter_mmap")
int mmap_enter_tp(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3],
			ctx->args[4], ctx->args[5]);
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int mmap_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

/* -- kprobes on the syscall (attach_ksyscall finds its symbol) ---------------------- */

extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig __weak;

/* The sixth syscall argument, which libbpf's PT_REGS macros stop short of. */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_ARG6(regs) BPF_CORE_READ((regs), r9)
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_ARG6(regs) BPF_CORE_READ((struct user_pt_regs *)(regs), regs[5])
#else
#define SYSCALL_ARG6(regs) 0
#endif

static __always_inline int enter_regs(struct pt_regs *regs)
{
	return on_enter(PT_REGS_PARM1_CORE_SYSCALL(regs), PT_REGS_PARM2_CORE_SYSCALL(regs),
			PT_REGS_PARM3_CORE_SYSCALL(regs), PT_REGS_PARM4_CORE_SYSCALL(regs),
			PT_REGS_PARM5_CORE_SYSCALL(regs), SYSCALL_ARG6(regs));
}

SEC("ksyscall/mmap")
int mmap_enter_kprobe(struct pt_regs *ctx)
{
	if (LINUX_HAS_SYSCALL_WRAPPER)
		return enter_regs((struct pt_regs *)PT_REGS_PARM1(ctx));
	/* No wrapper: the probed function takes the arguments in C ABI registers. */
	return on_enter(PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx),
			PT_REGS_PARM4(ctx), PT_REGS_PARM5(ctx), SYSCALL_ARG6(ctx));
}

SEC("kretsyscall/mmap")
int mmap_exit_kprobe(struct pt_regs *ctx)
{
	return on_exit(PT_REGS_RC(ctx));
}

/* -- fentry/fexit on the syscall's entry function (__x64_sys_mmap, ...) -------------- */

SEC("fentry")
int BPF_PROG(mmap_enter_fentry, struct pt_regs *regs)
{
	return enter_regs(regs);
}

SEC("fexit")
int BPF_PROG(mmap_exit_fexit, struct pt_regs *regs, long ret)
{
	return on_exit(ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
