#!/usr/bin/env python3
"""Tool start: mmapsnoop from exec to attached and on to exit, and its peak RSS,
next to a C tool on the same BPF object and programs, and BCC.

* C: the plain libbpf API (bench/startup/loader.c, gcc) loading mmapsnoop's own
  compiled object with the same tracepoint pair: the libbpf-tools way;
* mmapsnoop itself (``python -m libbpfpy.tools.mmapsnoop`` in the interpreter the
  benchmarks run in, see bench/run.py; also the venv's console script), warm: its BPF
  object shipped compiled, its probe answers kept for this boot (the first run, not
  counted, fills that cache);
* BCC (bench/startup/mmapsnoop_bcc.py, python3-bpfcc), compiling its C at start.

Each run: exec, wait for the "tracing" line on stderr (*attached*), SIGINT at once,
wait for the exit (*exit*: detaching costs the kernel an RCU grace period or two,
the same for every tool); peak RSS is the child's ru_maxrss.  Median (min-max) of
BENCH_STARTUP_RUNS runs (default 7; 3 for BCC), alternating the tools.
Targets: mmapsnoop start->attached->exit <= 1.5x C's, peak RSS <= 2x C's.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from _common import bcc_headers_note, bcc_ready, median, ratio, spread, table, target

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "startup"
BUILD = ROOT / "build" / "bench"
RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "7"))
BCC_RUNS = 3


def measure(cmd: list[str], marker: str, env: dict[str, str], timeout: float = 60
            ) -> tuple[float, float, int]:
    """(seconds to the marker line, seconds to exit after SIGINT then, peak RSS)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stderr is not None
    seen = None
    tail = []
    for line in proc.stderr:
        if marker in line:
            seen = time.perf_counter() - t0
            break
        tail.append(line)
        if time.perf_counter() - t0 > timeout:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    done = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if seen is None:
        raise RuntimeError(f"{cmd[0]} never attached (status {proc.returncode}): "
                           + "".join(tail + [rest])[-600:])
    return seen, done, usage.ru_maxrss * 1024


def user_env() -> dict[str, str]:
    """The environment a user runs tools in: with bytecode caching (some shells set
    PYTHONDONTWRITEBYTECODE, which makes every start compile every module)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def build_c_tool() -> Path:
    out = BUILD / "mmapsnoop_c"
    BUILD.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(out), str(HERE / "loader.c"), "-lbpf"],
                   check=True)
    return out


def python_floor(python: str) -> tuple[float, int]:
    """Seconds and peak RSS of a bare interpreter start (the floor of a Python tool)."""
    best = (float("inf"), 0)
    for _ in range(5):
        t0 = time.perf_counter()
        proc = subprocess.Popen([python, "-c", "pass"], env=user_env())
        _, _, usage = os.wait4(proc.pid, 0)
        best = min(best, (time.perf_counter() - t0, usage.ru_maxrss * 1024))
    return best


def main() -> int:
    if os.geteuid() != 0:
        print("bench_startup: needs root (BPF) -- skipped")
        return 0
    python = sys.executable
    obj = subprocess.run([python, "-m", "libbpfpy.tools.mmapsnoop", "--build"],
                         capture_output=True, text=True, check=True).stdout.strip()
    script = Path(python).parent / "mmapsnoop"
    snoop = [str(script)] if script.exists() else [python, "-m", "libbpfpy.tools.mmapsnoop"]
    env = user_env()
    tools: dict[str, tuple[list[str], str, int]] = {}
    notes = []
    if shutil.which("gcc"):
        tools["C, plain libbpf API"] = ([str(build_c_tool()), obj], "tracing", RUNS)
    tools["mmapsnoop (libbpfpy)"] = (snoop, "tracing mmap()", RUNS)
    venv_script = ROOT / ".venv" / "bin" / "mmapsnoop"
    if venv_script.exists() and not script.exists():
        # the same tool from the venv's interpreter (pyenv's build here: slower to
        # start than Debian's), for reference
        tools["mmapsnoop, venv console script"] = ([str(venv_script)], "tracing mmap()",
                                                   RUNS)
    bcc_note = bcc_ready()
    if bcc_note is None:
        tools["BCC (python3-bpfcc)"] = (["/usr/bin/python3", str(HERE / "mmapsnoop_bcc.py")],
                                        "tracing", BCC_RUNS)
        notes.append(bcc_headers_note())
    else:
        notes.append(f"BCC not run: {bcc_note}")
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in tools}
    for name, (cmd, marker, _) in tools.items():
        try:
            measure(cmd, marker, env)   # warm: page cache, .pyc, probe answers
        except RuntimeError as exc:
            notes.append(f"{name} could not run: {str(exc).splitlines()[-1]}")
            results.pop(name)
    for i in range(RUNS):
        for name, (cmd, marker, runs) in tools.items():
            if name in results and i < runs:
                results[name].append(measure(cmd, marker, env))

    def med(name: str, k: int) -> float | None:
        rs = results.get(name)
        return median([r[k] for r in rs]) if rs else None

    c, b = "C, plain libbpf API", "BCC (python3-bpfcc)"
    print(f"tool start on kernel {os.uname().release}: median (min-max) of {RUNS} runs "
          f"({BCC_RUNS} for BCC); ratios of medians")
    rows = []
    for name, rs in results.items():
        att, ext, rss = ([r[k] for r in rs] for k in range(3))
        rows.append([name, spread(att, "{:.3f}") + " s", spread(ext, "{:.3f}") + " s",
                     spread([x / 2**20 for x in rss], "{:.1f}") + " MiB",
                     ratio(median(ext), med(c, 1)), ratio(median(rss), med(c, 2)),
                     ratio(median(ext), med(b, 1)), ratio(median(rss), med(b, 2))])
    table(["tool", "start->attached", "start->attached->exit", "peak RSS",
           "exit vs C", "RSS vs C", "exit vs BCC", "RSS vs BCC"], rows)
    floor_s, floor_rss = python_floor(python)
    print(f"the Python floor: an interpreter starts and exits in {floor_s * 1000:.0f} ms, "
          f"{floor_rss / 2**20:.1f} MiB")
    for n in notes:
        print(f"note: {n}")
    ours = "mmapsnoop (libbpfpy)"
    if med(c, 1) and med(ours, 1):
        w, r = med(ours, 1) / med(c, 1), med(ours, 2) / med(c, 2)  # type: ignore[operator]
        a = med(ours, 0) / med(c, 0)  # type: ignore[operator]
        target("mmapsnoop start->attached->exit <= 1.5x C", w <= 1.5,
               f"{w:.2f}x; start->attached alone {a:.2f}x")
        target("mmapsnoop peak RSS <= 2x C", r <= 2.0, f"{r:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
