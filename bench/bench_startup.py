#!/usr/bin/env python3
"""mmapsnoop startup: time from exec to attached, and peak RSS, next to a C tool.

Three programs that do the same job -- trace every mmap() with the tracepoint
pair and read events from a ring buffer -- are each started several times:

* a C program over the plain libbpf API (bench/startup/loader.c, built here with
  gcc) loading mmapsnoop's own compiled BPF object: the libbpf-tools way;
* mmapsnoop itself (the console script);
* BCC's way (bench/startup/mmapsnoop_bcc.py: Debian's python3-bpfcc under
  /usr/bin/python3, compiling C at start), where BCC can run here.

"Attached" is the moment the program says so on stderr (after its links and ring
buffer exist).  Peak RSS is the child's ru_maxrss, read with wait4() after SIGINT.
Target: mmapsnoop within 2x of the C tool for both.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "startup"
BUILD = ROOT / "build" / "bench"
RUNS = 7
BCC_RUNS = 3
IDLE = 0.3          # seconds attached before SIGINT, so RSS covers steady state


def measure(cmd: list[str], marker: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> tuple[float, int]:
    """(seconds from exec to the marker line on stderr, peak RSS in bytes)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stderr is not None
    seen = None
    tail = []
    deadline = t0 + timeout
    for line in proc.stderr:
        if marker in line:
            seen = time.perf_counter() - t0
            break
        tail.append(line)
        if time.perf_counter() > deadline:
            break
    if seen is not None:
        time.sleep(IDLE)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if seen is None:
        raise RuntimeError(f"{cmd[0]} never attached (status {proc.returncode}): "
                           + "".join(tail + [rest])[-600:])
    return seen, usage.ru_maxrss * 1024


def user_env() -> dict[str, str]:
    """The environment a user runs tools in: with bytecode caching (some shells set
    PYTHONDONTWRITEBYTECODE, which makes every start compile every module)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def series(cmd: list[str], marker: str, runs: int, env: dict[str, str] | None = None
           ) -> tuple[list[float], list[int]]:
    env = env if env is not None else user_env()
    measure(cmd, marker, env)            # warm caches (page cache, .pyc, BPF objects)
    times, rss = [], []
    for _ in range(runs):
        t, r = measure(cmd, marker, env)
        times.append(t)
        rss.append(r)
    return times, rss


def build_c_tool() -> Path:
    out = BUILD / "mmapsnoop_c"
    BUILD.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-O2", "-Wall", "-o", str(out), str(HERE / "loader.c"), "-lbpf"],
                   check=True)
    return out


def bcc_setup() -> tuple[bool, str]:
    """Whether BCC can run here, and a note about how (or why not)."""
    if not os.path.exists("/usr/bin/python3") or subprocess.run(
            ["/usr/bin/python3", "-c", "import bcc"], capture_output=True).returncode:
        return False, "BCC not installed (Debian: apt install python3-bpfcc)"
    release = os.uname().release
    build = Path("/lib/modules") / release / "build"
    note = ""
    if not build.exists():
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "")
        candidates = sorted(glob.glob(f"/usr/src/linux-headers-*-{arch}"))
        if not candidates or os.geteuid() != 0:
            return False, (f"BCC needs kernel headers at {build} (Debian: apt install "
                           "linux-headers-amd64, then link them there as root)")
        headers = candidates[-1]
        common = re.sub(rf"-{arch}$", "-common", headers)
        build.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(headers, build)
        if os.path.isdir(common) and not (build.parent / "source").exists():
            os.symlink(common, build.parent / "source")
        note = f"linked {build} -> {headers}; "
    target = os.path.realpath(build)
    note += f"BCC compiles against {target}"
    version = re.search(r"linux-headers-(\d+\.\d+)", target)
    if version and not release.startswith(version.group(1) + "."):
        note += (f", headers not of kernel {release}: its struct offsets are wrong "
                 "there (BCC's FILE paths come out empty; mmapsnoop reads them through "
                 "CO-RE)")
    return True, note


def measure_python(python: str) -> float:
    """Seconds to start and end a bare interpreter (the floor of any Python tool)."""
    t0 = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True, env=user_env())
    return time.perf_counter() - t0


def import_ms(python: str) -> float:
    out = subprocess.run([python, "-X", "importtime", "-c",
                          "import libbpfpy.tools.mmapsnoop"], capture_output=True,
                         text=True, env=user_env()).stderr
    for line in out.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == "libbpfpy":
            return int(parts[1]) / 1000
    return float("nan")


def main() -> int:
    if os.geteuid() != 0:
        print("bench_startup: needs root (BPF) -- skipped")
        return 0
    python = sys.executable
    obj = subprocess.run([python, "-m", "libbpfpy.tools.mmapsnoop", "--build"],
                         capture_output=True, text=True, check=True).stdout.strip()
    script = Path(python).parent / "mmapsnoop"
    snoop_cmd = [str(script)] if script.exists() else [python, "-m",
                                                      "libbpfpy.tools.mmapsnoop"]
    rows = []
    notes = []
    if shutil.which("gcc"):
        c_tool = build_c_tool()
        rows.append(("C, plain libbpf API (loader.c)",
                     *series([str(c_tool), obj], "tracing", RUNS)))
    else:
        notes.append("no gcc: the C reference was not built")
    rows.append(("mmapsnoop (libbpfpy)", *series(snoop_cmd, "tracing mmap()", RUNS)))
    ok, note = bcc_setup()
    notes.append(note)
    if ok:
        try:
            rows.append(("BCC (python3-bpfcc)", *series(
                ["/usr/bin/python3", str(HERE / "mmapsnoop_bcc.py")], "tracing",
                BCC_RUNS)))
        except RuntimeError as exc:
            notes.append(f"BCC could not run: {str(exc).splitlines()[-1]}")

    print(f"startup to attached and peak RSS, median (min) of {RUNS} runs "
          f"({BCC_RUNS} for BCC); kernel {os.uname().release}")
    print(f"{'tool':<34} {'start->attached':>22} {'peak RSS':>20}")
    for name, times, rss in rows:
        print(f"{name:<34} {statistics.median(times):>10.3f} s ({min(times):.3f})"
              f" {statistics.median(rss) / 2**20:>10.1f} MB ({min(rss) / 2**20:.1f})")
    by = {name: (statistics.median(t), statistics.median(r)) for name, t, r in rows}
    c = by.get("C, plain libbpf API (loader.c)")
    ours = by["mmapsnoop (libbpfpy)"]
    if c:
        ts, rs = ours[0] / c[0], ours[1] / c[1]
        verdict = "within" if ts <= 2 and rs <= 2 else "NOT within"
        print(f"{'mmapsnoop / C':<34} {ts:>12.2f}x {rs:>18.2f}x   ({verdict} the 2x "
              "target)")
    bare = min(measure_python(python) for _ in range(5))
    print(f"of mmapsnoop's start: interpreter alone {bare * 1000:.0f} ms; "
          f"import libbpfpy {import_ms(python):.0f} ms (python -X importtime)")
    for n in notes:
        print(f"note: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
