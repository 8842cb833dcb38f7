#!/usr/bin/python3
"""BCC's way of doing what mmapsnoop does (for bench_startup.py): one event per
mmap() call, entry paired with exit by thread id, file path by dentry walk
(BCC rewrites the pointer chases into probe reads).  Prints "tracing" on stderr
once attached, then events until SIGINT."""
import signal
import sys

from bcc import BPF

TEXT = r"""
#include <linux/sched.h>
#include <linux/fs.h>
#include <linux/fdtable.h>
#include <linux/dcache.h>

struct event_t {
    u64 ts; s64 ret; u64 addr, len, off;
    u32 pid, tid, uid, prot, flags; s32 fd;
    char comm[TASK_COMM_LEN];
    char name0[64], name1[64], name2[64], name3[64];
};
#define COMPONENT(field) \
    bpf_probe_read_kernel(&name, sizeof(name), &d->d_name.name); \
    bpf_probe_read_kernel_str(e->field, 64, name); \
    bpf_probe_read_kernel(&p, sizeof(p), &d->d_parent); \
    if (p == d) goto done; \
    d = p;
BPF_HASH(starts, u32, struct event_t, 1024);
BPF_PERCPU_ARRAY(scratch, struct event_t, 1);
BPF_RINGBUF_OUTPUT(events, 256);

TRACEPOINT_PROBE(syscalls, sys_enter_mmap) {
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = id, zero = 0;
    struct event_t *e = scratch.lookup(&zero);
    if (!e) return 0;
    e->ts = bpf_ktime_get_ns(); e->pid = id >> 32; e->tid = tid;
    e->uid = bpf_get_current_uid_gid();
    e->addr = args->addr; e->len = args->len; e->prot = args->prot;
    e->flags = args->flags; e->fd = args->fd; e->off = args->off;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    e->name0[0] = e->name1[0] = e->name2[0] = e->name3[0] = 0;
    if (!(args->flags & 0x20) && (int)args->fd >= 0) {
        struct task_struct *t = (struct task_struct *)bpf_get_current_task();
        struct fdtable *fdt = t->files->fdt;
        struct file **fds = fdt->fd;
        struct file *f = NULL;
        unsigned int fd = args->fd;
        if (fd < fdt->max_fds)
            bpf_probe_read_kernel(&f, sizeof(f), fds + fd);
        if (f) {
            struct dentry *d = NULL, *p = NULL;
            const unsigned char *name = NULL;
            bpf_probe_read_kernel(&d, sizeof(d), &f->f_path.dentry);
            COMPONENT(name0) COMPONENT(name1) COMPONENT(name2) COMPONENT(name3)
        }
    }
done:
    starts.update(&tid, e);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_mmap) {
    u32 tid = bpf_get_current_pid_tgid();
    struct event_t *e = starts.lookup(&tid);
    if (!e) return 0;
    e->ret = args->ret;
    events.ringbuf_output(e, sizeof(*e), 0);
    starts.delete(&tid);
    return 0;
}
"""


def main() -> int:
    b = BPF(text=TEXT)
    count = [0]

    def show(_ctx, data, _size):
        e = b["events"].event(data)
        count[0] += 1
        parts = [bytes(n).split(b"\0")[0].decode(errors="replace")
                 for n in (e.name0, e.name1, e.name2, e.name3)]
        path = "/".join(reversed([p for p in parts if p]))
        print(f"{e.ts} {e.pid} {e.tid} {e.comm.decode(errors='replace')} {e.ret:#x} "
              f"{e.len} {e.prot} {e.flags} {e.fd} {e.off} {path}")

    b["events"].open_ring_buffer(show)
    print("tracing", file=sys.stderr, flush=True)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop:
        b.ring_buffer_poll(200)
    print(f"{count[0]} events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
