#!/usr/bin/env python3
"""Ring buffer consumers side by side (``make bench ARGS=ringbuf``).

Producer (bench/ringbuf/producer.bpf.c): a tracepoint on ``syscalls:sys_enter_getppid``
emitting 16 records per call -- ``{int pid; char comm[100]}`` (112 bytes in the ring
with the header), or in the variable-size variant 16..4,000 random bytes -- into a
16 MiB ring, for a child looping ``getppid()`` for 3 s.  BPF counts the records it
attempted and those the full ring refused (per-CPU counters): *produced* and
*dropped*.  Note that a consumer that keeps the ring full makes the producer faster
(a refused reservation is cheap, and no wakeups are sent), so *produced* differs
per row.

Consumers, each in its own process (so CPU time and peak RSS are its own):

* C: libbpf's ``ring_buffer__poll()`` with an empty callback (gcc, built here);
* libbpfpy: a callback (``poll()``), the typed iterator (``for ev in rb``),
  ``read_batch()`` called in a loop (at most 32k events per call, 1 ms pause when
  little was waiting), and ``read_batch(timeout=...)`` woken by the kernel;
* BCC (Debian's python3-bpfcc with /usr/bin/python3): ``open_ring_buffer`` with
  ``b["events"].event(data)`` per callback.

consumed/s is consumed / (time from the producer's start until the consumer had
read everything it could); CPU is the consumer's user+system time over the same
span, per consumed event.  Each row is the median (by consumed/s) of BENCH_RUNS
runs (default 3).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent / "ringbuf"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = os.environ.get("BENCH_RINGBUF_SECONDS", "3")
DEBIAN_PYTHON = "/usr/bin/python3"


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


def bcc_ready() -> str | None:
    """Make BCC usable if we can; return why not otherwise."""
    def has_bcc() -> bool:
        return os.path.exists(DEBIAN_PYTHON) and subprocess.run(
            [DEBIAN_PYTHON, "-c", "import bcc"], capture_output=True).returncode == 0

    release = os.uname().release
    modules = Path("/lib/modules") / release
    need_apt = not has_bcc() or not (modules / "build").exists()
    if need_apt and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "python3-bpfcc",
                        "linux-headers-amd64"], env=env, capture_output=True)
    if not has_bcc():
        return "BCC's Python package (Debian python3-bpfcc) is not installed"
    if not (modules / "build").exists():
        # This kernel ships no headers; Debian's generic ones are enough for this
        # tracepoint program: build -> the -amd64 headers, source -> the -common ones.
        src = Path("/usr/src")
        amd64 = sorted(src.glob("linux-headers-*-amd64"))
        common = sorted(src.glob("linux-headers-*-common"))
        if not amd64 or not common or os.geteuid() != 0:
            return f"no kernel headers under {modules}/build (install linux-headers-amd64)"
        modules.mkdir(parents=True, exist_ok=True)
        os.symlink(amd64[-1], modules / "build")
        if not (modules / "source").exists():
            os.symlink(common[-1], modules / "source")
    return None


def run(argv: list[str]) -> dict[str, float]:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return {"error": f"exit {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}"}
    result: dict[str, float] = json.loads(lines[-1])
    return result


def median_run(argv: list[str]) -> dict[str, float]:
    results = [run(argv) for _ in range(RUNS)]
    good = [r for r in results if "error" not in r]
    if not good:
        return results[0]
    good.sort(key=lambda r: r["consumed"] / r["elapsed_s"])
    return good[len(good) // 2]


def row(name: str, r: dict[str, float]) -> str:
    if "error" in r:
        return f"| {name} | error: {r['error']} | | | | |"
    rate = r["consumed"] / r["elapsed_s"]
    drop = r["dropped"] / r["produced"] if r["produced"] else 0.0
    ns = r["cpu_s"] / r["consumed"] * 1e9 if r["consumed"] else float("nan")
    return (f"| {name} | {rate / 1e6:.2f} M | {r['produced'] / 1e6:.1f} M | "
            f"{r['dropped'] / 1e6:.2f} M ({drop:.1%}) | {ns:,.0f} ns | "
            f"{r['maxrss_kb'] / 1024:.0f} MiB |")


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
            print(f"\nring buffer, {title}; producer {SECONDS} s, 16 records per "
                  f"getppid(), 16 MiB ring, median of {RUNS}", flush=True)
            print("| consumer | consumed/s | produced | dropped | consumer CPU/event "
                  "| peak RSS |")
            print("|---|---|---|---|---|---|")
            rows = {
                "C libbpf ring_buffer__poll, empty callback":
                    [c_consumer, obj, loop, SECONDS, str(mode)],
                "libbpfpy callback (poll)": [py, consumer_py, obj, loop, SECONDS, str(mode),
                                             "callback"],
                "libbpfpy typed iterator": [py, consumer_py, obj, loop, SECONDS, str(mode),
                                            "iterator"],
                "libbpfpy read_batch, loop": [py, consumer_py, obj, loop, SECONDS, str(mode),
                                              "batch"],
                "libbpfpy read_batch, on wakeup": [py, consumer_py, obj, loop, SECONDS,
                                                   str(mode), "batch-wakeup"],
            }
            if bcc_note is None:
                rows["BCC Python, event(data) per callback"] = [
                    DEBIAN_PYTHON, str(HERE / "consume_bcc.py"), loop, SECONDS, str(mode)]
            results: dict[str, dict[str, float]] = {}
            for name, argv in rows.items():
                results[name] = median_run(argv)
                print(row(name, results[name]), flush=True)
            if bcc_note is not None:
                print(f"| BCC Python | not run: {bcc_note} | | | | |")
            summary(results)
    return 0


def summary(results: dict[str, dict[str, float]]) -> None:
    def rate(name: str) -> float | None:
        r = results.get(name)
        if not r or "error" in r or not r["elapsed_s"]:
            return None
        return r["consumed"] / r["elapsed_s"]

    c = rate("C libbpf ring_buffer__poll, empty callback")
    bcc = rate("BCC Python, event(data) per callback")
    notes = []
    for name in ("libbpfpy read_batch, loop", "libbpfpy read_batch, on wakeup"):
        r = results[name]
        if "error" in r or not r["consumed"] or c is None:
            continue
        loss = r["dropped"] / r["produced"] if r["produced"] else 0.0
        ns = r["cpu_s"] / r["consumed"] * 1e9
        notes.append(f"{name}: {rate(name) / c:.1f}x C's consumed/s, {loss:.2%} lost, "
                     f"{ns:.0f} ns CPU/event")
    if bcc:
        for name in ("libbpfpy typed iterator", "libbpfpy callback (poll)"):
            mine = rate(name)
            if mine:
                notes.append(f"{name}: {mine / bcc:.1f}x BCC's consumed/s")
    for n in notes:
        print(f"  {n}")


if __name__ == "__main__":
    sys.exit(main())
