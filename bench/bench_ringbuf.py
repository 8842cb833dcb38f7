#!/usr/bin/env python3
"""Ring buffer consumers side by side (``make bench ARGS=ringbuf``).

Producer (bench/ringbuf/producer.bpf.c): a tracepoint on ``syscalls:sys_enter_getppid``
emitting 16 records per call -- ``{int pid; char comm[100]}`` (112 bytes in the ring
with the header), or in the variable-size variant 16..4,000 random bytes -- into a
16 MiB ring, for a child looping ``getppid()`` for 3 s.  BPF counts the records it
attempted and those the full ring refused (per-CPU counters): *produced* and *lost*.
A consumer that keeps up wakes on (nearly) every record, which slows the producer
(in this VM a wakeup is an expensive interrupt); one that falls behind lets it run
free, so *produced* differs per row.

Consumers, each in its own process (so CPU time and peak RSS are its own), run in
rounds -- every consumer once per round, BENCH_RUNS rounds (default 3):

* C: libbpf's ``ring_buffer__poll()`` with an empty callback (gcc, built here);
* BCC (Debian's python3-bpfcc under /usr/bin/python3): ``open_ring_buffer`` with
  ``b["events"].event(data)`` per callback, ``ring_buffer_poll()``;
* libbpfpy, each the plain loop a user writes (bench/ringbuf/consume_libbpfpy.py):
  ``poll()`` with a callback, ``for ev in rb``, ``rb.read()`` per event,
  ``while True: rb.read_batch(timeout=1)``, ``select()`` then ``read_batch()``, and
  ``with rb.lease(timeout=1) as events`` (zero-copy numpy views).

consumed/s is consumed / (time from the producer's start until the consumer had
read everything it could); CPU is the consumer's user+system time over that span
per consumed event.  Cells are median (min-max) over the rounds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import RUNS, bcc_ready, median, ratio, spread, table, target

HERE = Path(__file__).resolve().parent / "ringbuf"
SECONDS = os.environ.get("BENCH_RINGBUF_SECONDS", "3")
STYLES = [("callback", "libbpfpy poll(), callback"), ("iterator", "libbpfpy for ev in rb"),
          ("read", "libbpfpy read() per event"),
          ("batch", "libbpfpy read_batch(timeout=1) loop"),
          ("select", "libbpfpy select() + read_batch()"),
          ("lease", "libbpfpy lease() (zero-copy)")]
C_NAME = "C libbpf ring_buffer__poll"
BCC_NAME = "BCC open_ring_buffer + event()"


def build(tmp: Path) -> tuple[str, str, str]:
    """The producer object, the C consumer and the getppid loop, built now."""
    from libbpfpy import compile as bpf_compile
    obj = bpf_compile(HERE / "producer.bpf.c", tmp / "producer.bpf.o")
    consumer = tmp / "consumer"
    loop = tmp / "getppid_loop"
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(consumer), str(HERE / "consumer.c"),
                    "-lbpf"], check=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(loop), str(HERE / "getppid_loop.c")],
                   check=True)
    return str(obj), str(consumer), str(loop)


def run(argv: list[str]) -> dict[str, float] | str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return f"exit {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}"
    result = json.loads(lines[-1])
    if "error" in result:
        return str(result["error"])
    return result  # type: ignore[no-any-return]


def rate(r: dict[str, float]) -> float:
    return r["consumed"] / r["elapsed_s"] if r["elapsed_s"] else 0.0


def loss(r: dict[str, float]) -> float:
    return r["dropped"] / r["produced"] * 100 if r["produced"] else 0.0


def cpu_ns(r: dict[str, float]) -> float:
    return r["cpu_s"] / r["consumed"] * 1e9 if r["consumed"] else float("nan")


def main() -> int:
    if os.geteuid() != 0:
        print("bench_ringbuf: needs root (BPF); skipped")
        return 0
    from libbpfpy import fs
    fs.ensure_mounts()
    py = sys.executable
    consumer_py = str(HERE / "consume_libbpfpy.py")
    with tempfile.TemporaryDirectory(prefix="bench_ringbuf.") as d:
        obj, c_consumer, loop = build(Path(d))
        bcc_note = bcc_ready()
        for mode, title in ((0, "fixed 112-byte records ({int pid; char comm[100]} + header)"),
                            (1, "variable-size records (16-4,000 bytes)")):
            progs = {C_NAME: [c_consumer, obj, loop, SECONDS, str(mode)]}
            if bcc_note is None:
                progs[BCC_NAME] = ["/usr/bin/python3", str(HERE / "consume_bcc.py"), loop,
                                   SECONDS, str(mode)]
            for style, name in STYLES:
                progs[name] = [py, consumer_py, obj, loop, SECONDS, str(mode), style]
            rounds: list[dict[str, dict[str, float] | str]] = []
            for _ in range(RUNS):
                rounds.append({name: run(argv) for name, argv in progs.items()})
            report(mode, title, progs, rounds, bcc_note)
    return 0


def report(mode: int, title: str, progs: dict[str, list[str]],
           rounds: list[dict[str, dict[str, float] | str]], bcc_note: str | None) -> None:
    def good(name: str) -> list[dict[str, float]]:
        return [r[name] for r in rounds if isinstance(r.get(name), dict)]  # type: ignore

    c_cpu = median([cpu_ns(r) for r in good(C_NAME)]) if good(C_NAME) else None
    b_cpu = median([cpu_ns(r) for r in good(BCC_NAME)]) if good(BCC_NAME) else None
    b_rate = median([rate(r) for r in good(BCC_NAME)]) if good(BCC_NAME) else None
    print(f"\nring buffer, {title}; producer {SECONDS} s, 16 records per getppid(), "
          f"16 MiB ring; median (min-max) of {RUNS} rounds")
    rows = []
    for name in progs:
        rs = good(name)
        if not rs:
            errs = [r[name] for r in rounds if isinstance(r.get(name), str)]
            rows.append([name, f"error: {errs[0] if errs else '?'}"[:60], "", "", "", "",
                         "", "", ""])
            continue
        cpu = median([cpu_ns(r) for r in rs])
        rows.append([name, spread([rate(r) / 1e6 for r in rs], "{:.2f}") + " M",
                     spread([r["produced"] / 1e6 for r in rs], "{:.1f}") + " M",
                     spread([loss(r) for r in rs], "{:.1f}") + " %",
                     spread([cpu_ns(r) for r in rs]),
                     ratio(cpu, c_cpu), ratio(cpu, b_cpu),
                     ratio(median([rate(r) for r in rs]), b_rate),
                     spread([r["maxrss_kb"] / 1024 for r in rs]) + " MiB"])
    table(["consumer", "consumed/s", "produced", "lost", "CPU ns/event", "CPU vs C",
           "CPU vs BCC", "consumed/s vs BCC", "peak RSS"], rows)
    if bcc_note:
        print(f"note: BCC not run: {bcc_note}")
    kind = "fixed" if mode == 0 else "variable"
    # Loss: judged in the rounds where C, run just before, lost nothing.
    calm = [r for r in rounds if isinstance(r.get(C_NAME), dict)
            and r[C_NAME]["dropped"] == 0]  # type: ignore[index]
    if mode == 0:
        for _style, name in STYLES:
            losses = [loss(r[name]) for r in calm if isinstance(r.get(name), dict)]  # type: ignore
            target(f"{name}: < 1% lost where C loses 0 ({kind})",
                   None if not losses else max(losses) < 1.0,
                   f"{len(losses)} of {len(rounds)} rounds with C at 0%: "
                   + (", ".join(f"{x:.2f}%" for x in losses) if losses else "none"))
        read = good("libbpfpy read() per event")
        it = good("libbpfpy for ev in rb")
        if read and b_rate:
            r_rate = median([rate(r) for r in read])
            target("read() >= 3x BCC consumed/s", r_rate >= 3 * b_rate,
                   f"{r_rate / b_rate:.2f}x")
        if read and it:
            rc, ic = median([cpu_ns(r) for r in read]), median([cpu_ns(r) for r in it])
            target("read() CPU/event within 2x of the iterator's", rc <= 2 * ic,
                   f"{rc / ic:.2f}x")
    else:
        for _style, name in STYLES:
            rs = good(name)
            if rs and c_cpu:
                cpu = median([cpu_ns(r) for r in rs])
                target(f"{name}: variable-size CPU/event <= 1.0x C", cpu <= c_cpu,
                       f"{cpu / c_cpu:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
