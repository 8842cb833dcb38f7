#!/usr/bin/env python3
"""The kernel matrix: run the test suite inside each declared Debian kernel.

    test_kernels.py [--kernels bookworm,backports,sid] [--full sid] [-- PYTEST_ARGS...]

Every kernel runs the kernel-dependent tests (``KERNEL_TESTS``, root tier, not
``slow``); the kernels named by ``--full`` run the whole suite but its ``slow`` tests
(kernel-independent ones the host runs: under TCG they would take most of CI's
time).  Each guest is booted by ``vm.py`` (the host's filesystem read-only, a tmpfs
overlay on top) and writes a JUnit report to its results share; the summary table
at the end (kernel x passed/failed/skipped/errors, time) is built from those
reports, and the exit status is non-zero if any test failed or any guest did not
report.  Skips are listed with their reasons, which quote the probes.

Environment: ``LIBBPFPY_LIBBPF`` and the other LIBBPFPY_* variables reach the guests;
``LIBBPFPY_MATRIX_LIBBPF=path`` adds a second run of the root tier on the newest
kernel with that libbpf.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import vm  # noqa: E402

# The slow, kernel-independent tests (every fixture compiles, skeleton type checks,
# random call sequences, thread races, signal storms, whole-vmlinux BTF walks) run
# on the host only; under TCG they are most of a guest's time.
SLOW = "not slow"
# What the other kernels run: the tests whose outcome hangs on what the kernel
# supports -- attach kinds, program and map types, the verifier, iterators, ring
# and perf buffers, kconfig -- as opposed to formatting, packaging, the CLI's output
# and the exporter, which the host and the full kernels cover.  (Under TCG every
# test costs ~10x; this keeps each of these kernels to a fraction of a full run.)
KERNEL_TESTS = [
    "tests/test_kernel_features.py", "tests/test_founding.py", "tests/test_attach.py",
    "tests/test_probe.py", "tests/test_program.py", "tests/test_object.py",
    "tests/test_map.py", "tests/test_link.py", "tests/test_tc.py",
    "tests/test_ringbuf.py", "tests/test_perfbuf.py", "tests/test_user_ringbuf.py",
    "tests/test_globals.py", "tests/test_smoke.py", "tests/test_examples.py",
    "tests/test_mmapsnoop.py::test_every_field_of_known_calls",
    # what libbpf >= 1.2 adds (each refused clearly by an older libbpf)
    "tests/test_links17.py", "tests/test_object17.py", "tests/test_token.py",
    "tests/test_ring_objects.py",
]
# Seconds one test may take in a guest (TCG runs ~10x slower than the host).
TEST_TIMEOUT = 600


@dataclass
class Outcome:
    kernel: str
    label: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    status: int = 0
    failures: list[str] = field(default_factory=list)
    skips: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.failed and not self.errors and \
            (self.passed + self.skipped) > 0


def _read_junit(path: Path, out: Outcome) -> None:
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None:
            out.failed += 1
            out.failures.append(name)
        elif case.find("error") is not None:
            out.errors += 1
            out.failures.append(name + " (error)")
        elif (skip := case.find("skipped")) is not None:
            out.skipped += 1
            reason = (skip.get("message") or "").strip()
            out.skips[reason] = out.skips.get(reason, 0) + 1
        else:
            out.passed += 1


def run_one(kernel: str, label: str, pytest_args: list[str], env: dict[str, str],
            timeout: float) -> Outcome:
    out = Outcome(kernel, label)
    python = str(ROOT / ".venv" / "bin" / "python")
    # --timeout: one hung test must not take the guest's whole budget with it
    command = " ".join([python, "-m", "pytest", "-p", "no:cacheprovider", "-v",
                        "--color=no", f"--timeout={TEST_TIMEOUT}",
                        "--junitxml=/results/out/junit.xml", "-o", "junit_family=xunit1",
                        *[vm.shlex.quote(a) for a in pytest_args]])
    artifacts = ROOT / "build" / "matrix" / f"{kernel}-{label}"
    vm.shutil.rmtree(artifacts, ignore_errors=True)
    print(f"\n=== {kernel} ({label}): {command}", flush=True)
    started = time.monotonic()
    out.status = vm.run(vm.Kernel(kernel), "mkdir -p /results/out && " + command,
                        cwd=str(ROOT), timeout=timeout, env=env, artifacts=artifacts)
    out.seconds = time.monotonic() - started
    report = artifacts / "junit.xml"
    if report.exists():
        _read_junit(report, out)
    else:
        out.failures.append("(no JUnit report: the guest did not finish)")
    return out


def summary(outcomes: list[Outcome]) -> str:
    lines = ["", "kernel matrix", "",
             f"  {'KERNEL':10} {'RUN':22} {'RELEASE':24} {'PASSED':>6} {'FAILED':>6} "
             f"{'SKIPPED':>7} {'ERRORS':>6} {'TIME':>8}  RESULT"]
    for o in outcomes:
        k = vm.Kernel(o.kernel)
        release = k.release if k.prepared() else "?"
        lines.append(f"  {o.kernel:10} {o.label:22} {release:24} {o.passed:6d} {o.failed:6d} "
                     f"{o.skipped:7d} {o.errors:6d} {o.seconds:7.0f}s  "
                     f"{'ok' if o.ok else 'FAILED'}")
    for o in outcomes:
        for name in o.failures:
            lines.append(f"  FAILED on {o.kernel} ({o.label}): {name}")
    for o in outcomes:
        for reason, count in sorted(o.skips.items()):
            lines.append(f"  skipped on {o.kernel} ({o.label}) x{count}: {reason}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", default=os.environ.get("KERNELS", ",".join(vm.KERNELS)),
                        help="comma-separated kernel names (default: all declared)")
    parser.add_argument("--full", default=os.environ.get("FULL_KERNELS", "sid"),
                        help="kernels that run the whole suite (default: sid)")
    parser.add_argument("--timeout", type=float, default=3000,
                        help="seconds per guest (default 3000)")
    args = parser.parse_args(argv)
    kernels = [k for k in args.kernels.replace(" ", ",").split(",") if k]
    full = {k for k in args.full.replace(" ", ",").split(",") if k}
    for k in kernels:
        vm.Kernel(k).prepare()
    # Byte-compile the checkout once on the host: the guests see it read-only, and
    # under TCG compiling modules again in every Python process the tests start is
    # the largest cost there is.
    vm.subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0",
                       str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "examples")],
                      check=False, stdout=vm.subprocess.DEVNULL)
    outcomes: list[Outcome] = []
    started = time.monotonic()
    for k in kernels:
        if k in full:
            outcomes.append(run_one(k, "whole suite", ["-m", SLOW, *extra], {},
                                    args.timeout))
        else:
            outcomes.append(run_one(k, "kernel-dependent tests",
                                    ["-m", f"root and {SLOW}", *(extra or KERNEL_TESTS)],
                                    {}, args.timeout))
    second = os.environ.get("LIBBPFPY_MATRIX_LIBBPF")
    if second:
        newest = kernels[-1]
        outcomes.append(run_one(newest, "kernel tests, other libbpf",
                                ["-m", f"root and {SLOW}", *(extra or KERNEL_TESTS)],
                                {"LIBBPFPY_LIBBPF": second}, args.timeout))
    text = summary(outcomes)
    text += f"\n  total {time.monotonic() - started:.0f}s\n"
    print(text, flush=True)
    report = ROOT / "build" / "matrix" / "summary.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(text)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
