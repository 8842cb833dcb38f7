"""What the benchmarks share: making BCC usable, runs with ranges, side-by-side tables.

Every table puts C (libbpf, or bpftool for BTF), BCC (Debian's python3-bpfcc under
/usr/bin/python3) and libbpfpy on one row, with libbpfpy's ratio to each.  Numbers
are medians of runs taken in one go, alternating the programs, with the range
(min-max) beside them: the machine is shared, so what counts are ratios taken in the
same run.  A line ``target: ...`` states one of issue 15's targets and whether this
run met it; ``bench/run.py`` repeats them all at the end.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DEBIAN_PYTHON = "/usr/bin/python3"
SRC = str(Path(__file__).resolve().parents[1] / "src")


def bench_python() -> tuple[str, dict[str, str]]:
    """The interpreter (and environment) to run libbpfpy's side in: the one BCC runs
    in (Debian's /usr/bin/python3, an optimised build) when it can import libbpfpy
    and numpy from this checkout and its venv, so that ratios to BCC compare
    libraries, not interpreters; else this one.  BENCH_PYTHON=venv forces this one."""
    import site
    import sys
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if os.environ.get("BENCH_PYTHON") == "venv" or not os.path.exists(DEBIAN_PYTHON):
        return sys.executable, env
    paths = [SRC] + [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    ok = subprocess.run([DEBIAN_PYTHON, "-c", "import libbpfpy.map, numpy"], env=env,
                        capture_output=True).returncode == 0
    return (DEBIAN_PYTHON, env) if ok else (sys.executable, dict(os.environ))


def bcc_ready() -> str | None:
    """Make BCC usable if we can (root: install python3-bpfcc and kernel headers,
    link the headers for the running kernel); None when ready, else why not."""
    def has_bcc() -> bool:
        return os.path.exists(DEBIAN_PYTHON) and subprocess.run(
            [DEBIAN_PYTHON, "-c", "import bcc"], capture_output=True).returncode == 0

    release = os.uname().release
    modules = Path("/lib/modules") / release
    need_apt = not has_bcc() or not (modules / "build").exists()
    if need_apt and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq",
                        "python3-bpfcc", "linux-headers-amd64"], env=env,
                       capture_output=True)
    if not has_bcc():
        return "BCC's Python package (Debian python3-bpfcc) is not installed"
    if not (modules / "build").exists():
        # This kernel ships no headers; Debian's generic ones are enough for the
        # benchmarks' programs: build -> the -amd64 headers, source -> -common.
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "")
        built = sorted(glob.glob(f"/usr/src/linux-headers-*-{arch}"))
        if not built or os.geteuid() != 0:
            return f"no kernel headers under {modules}/build (install linux-headers-{arch})"
        modules.mkdir(parents=True, exist_ok=True)
        os.symlink(built[-1], modules / "build")
        common = re.sub(rf"-{arch}$", "-common", built[-1])
        if os.path.isdir(common) and not (modules / "source").exists():
            os.symlink(common, modules / "source")
    return None


def bcc_headers_note() -> str:
    """Which kernel headers BCC compiles against, and whether they are this kernel's."""
    build = Path("/lib/modules") / os.uname().release / "build"
    target = os.path.realpath(build)
    note = f"BCC compiles against {target}"
    version = re.search(r"linux-headers-(\d+\.\d+)", target)
    if version and not os.uname().release.startswith(version.group(1) + "."):
        note += (f" (headers not of kernel {os.uname().release}: fine for these "
                 "programs, which read no kernel structs)")
    return note


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """``median (min-max)`` of ``values``."""
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return (f"{fmt.format(median(values))} ({fmt.format(min(values))}-"
            f"{fmt.format(max(values))})")


def ratio(ours: float | None, ref: float | None) -> str:
    """``ours / ref`` as ``1.23x``, or ``-`` where either is missing."""
    if ours is None or ref is None or ref != ref or ours != ours or not ref:
        return "-"
    return f"{ours / ref:.2f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Markdown table, columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths,
                                                                  strict=True)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def target(name: str, met: bool | None, detail: str) -> None:
    """Report one target of issue 15 (None: could not be measured in this run)."""
    verdict = "not measured" if met is None else "met" if met else "NOT met"
    print(f"target: {name}: {verdict} ({detail})", flush=True)
