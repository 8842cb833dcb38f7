#!/usr/bin/python3
"""The BCC consumer for bench/bench_ringbuf.py, run with Debian's python3 (python3-bpfcc).

The same producer as producer.bpf.c, written for BCC, and the usual BCC consumer:
``b["events"].open_ring_buffer(cb)`` with ``b["events"].event(data)`` in the callback
and ``b.ring_buffer_poll()``.

usage: consume_bcc.py LOOP SECONDS MODE
Prints one JSON line: consumed, produced, dropped, elapsed_s, cpu_s, maxrss_kb
(or {"error": "..."} when BCC cannot compile the program).
"""
import ctypes
import json
import resource
import subprocess
import sys
import time

TEXT = r"""
struct event {
    int pid;
    char comm[100];
};
struct var_head {
    u32 pid;
    u32 size;
    u64 seq;
};
struct scratch_t {
    u8 buf[4096];
};
BPF_RINGBUF_OUTPUT(events, 4096);          /* pages: 16 MiB, as producer.bpf.c */
BPF_PERCPU_ARRAY(counts, u64, 2);
BPF_PERCPU_ARRAY(scratch, struct scratch_t, 1);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    int k0 = 0, k1 = 1;
    u64 *attempts, *failed;

    if (pid != TARGET)
        return 0;
    attempts = counts.lookup(&k0);
    failed = counts.lookup(&k1);
    if (!attempts || !failed)
        return 0;
#if MODE == 0
#pragma unroll
    for (int i = 0; i < 16; i++) {
        struct event *e = events.ringbuf_reserve(sizeof(struct event));

        *attempts += 1;
        if (!e) {
            *failed += 1;
            continue;
        }
        e->pid = pid;
        bpf_get_current_comm(e->comm, sizeof(e->comm));
        events.ringbuf_submit(e, 0);
    }
#else
    struct scratch_t *s = scratch.lookup(&k0);

    if (!s)
        return 0;
    for (int i = 0; i < 16; i++) {
        struct var_head *h = (void *)s->buf;
        u64 size = 16 + bpf_get_prandom_u32() % 3985;

        asm volatile("%[x] &= 0xfff" : [x] "+r"(size));
        if (size < 16)
            size = 16;
        h->pid = pid;
        h->size = size;
        h->seq = *attempts;
        *attempts += 1;
        if (events.ringbuf_output(h, size, 0))
            *failed += 1;
    }
#endif
    return 0;
}
"""


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main():
    loop, secs, mode = sys.argv[1], sys.argv[2], int(sys.argv[3])
    child = subprocess.Popen([loop, secs], stdin=subprocess.PIPE)
    try:
        from bcc import BPF
        b = BPF(text=TEXT, cflags=[f"-DTARGET={child.pid}", f"-DMODE={mode}",
                                   "-Wno-unused-variable"])
    except Exception as exc:  # no kernel headers, no bcc, ...
        child.kill()
        child.wait()
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 0
    events = b["events"]
    state = {"n": 0}

    def on_event(ctx, data, size):
        event = events.event(data)   # the usual BCC idiom
        state["n"] += 1
        del event

    events.open_ring_buffer(on_event)
    counts = b["counts"]

    def totals():
        return (sum(counts[ctypes.c_int(0)]), sum(counts[ctypes.c_int(1)]))

    t0, c0 = time.monotonic(), cpu_seconds()
    child.stdin.write(b"g")
    child.stdin.close()
    while True:
        b.ring_buffer_poll(100)
        if child.poll() is not None:
            produced, dropped = totals()
            if state["n"] >= produced - dropped or time.monotonic() - t0 > 60:
                break
    t_end = time.monotonic()
    cpu = cpu_seconds() - c0
    print(json.dumps({"consumed": state["n"], "produced": produced, "dropped": dropped,
                      "elapsed_s": t_end - t0, "cpu_s": cpu,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
