#!/usr/bin/env python3
"""Mutation fuzzing of libbpfpy's input parsing, in forked workers.

    python tests/fuzz/run.py --kind object --cases 10000      # mutated .o files
    python tests/fuzz/run.py --kind btf --cases 10000         # mutated BTF blobs
    python tests/fuzz/run.py --kind both --cases 5000 --seed 7   # make fuzz-ci

Inputs are mutations (``mutate.py``) of every fixture object in ``build/`` (and
their ``.BTF`` sections for blobs).  A worker process runs the cases one by one
(``targets.py``) and reports each outcome; the parent starts a new worker whenever
one dies, so each case's outcome is observed:

* ``ok`` / ``bpferror``: fine (a malformed input must end in a ``BPFError``);
* ``error``: another exception escaped -- a finding;
* ``crash``: the worker died from a signal -- a finding;
* ``hang``: no answer within ``--timeout`` seconds (the worker is killed) -- a finding.

A finding's input is saved under ``--save`` (default ``build/fuzz/``) with its case
id; ``--replay FILE`` runs one saved input in this process.  The exit status is 1
if there was any finding.  Case ``i`` of seed ``s`` is always the same input.
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import mutate  # noqa: E402


def fixtures() -> list[Path]:
    """Every compiled fixture object (tests and examples)."""
    found = sorted((ROOT / "build" / "tests").glob("*.bpf.o")) + \
        sorted((ROOT / "build" / "examples").glob("*.bpf.o"))
    if not found:
        sys.exit("no fixture objects in build/: run `make setup` first")
    return found


def make_case(kind: str, seed: int, index: int, objects: list[bytes],
              blobs: list[bytes]) -> bytes:
    rng = random.Random(seed * 1_000_003 + index)
    if kind == "object":
        return mutate.mutate_object(objects[index % len(objects)], rng)
    return mutate.mutate_btf(blobs[index % len(blobs)], rng)


def load_inputs() -> tuple[list[bytes], list[bytes]]:
    objects = [p.read_bytes() for p in fixtures()]
    blobs = [b for b in (mutate.btf_section(o) for o in objects) if b]
    return objects, blobs


# -- worker ----------------------------------------------------------------------------

def _classify(exc: BaseException) -> tuple[str, str]:
    from libbpfpy.errors import BPFError
    if isinstance(exc, BPFError):
        return "bpferror", type(exc).__name__
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
    text = str(exc).replace("\n", " ")[:200]
    return "error", f"{type(exc).__name__} at {where}: {text}"


def run_case(kind: str, data: bytes, *, index: int, load: bool, tmp: str) -> tuple[str, str]:
    import targets
    try:
        if kind == "object":
            via = os.path.join(tmp, f"case{index}.o") if index % 2 else None
            targets.run_object(data, via_path=via, load=load)
        else:
            targets.run_btf(data)
    except Exception as exc:  # classified, not swallowed: "error" fails the run
        return _classify(exc)
    return "ok", ""


def worker(args: argparse.Namespace) -> None:
    import logging
    import tempfile
    logging.getLogger("libbpfpy").addHandler(logging.NullHandler())
    logging.getLogger("libbpfpy").propagate = False
    from libbpfpy._caps import has_bpf_privileges
    load = has_bpf_privileges() and not args.no_load
    objects, blobs = load_inputs()
    with tempfile.TemporaryDirectory(prefix="libbpfpy-fuzz-") as tmp:
        for line in sys.stdin:
            kind, index = line.split()
            i = int(index)
            data = make_case(kind, args.seed, i, objects, blobs)
            status, detail = run_case(kind, data, index=i, load=load, tmp=tmp)
            sys.stdout.write(f"{kind} {i} {status} {detail}\n")
            sys.stdout.flush()


# -- parent ----------------------------------------------------------------------------

class Pool:
    """One worker process at a time; restarted after a crash or a hang."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed",
               str(self.args.seed)] + (["--no-load"] if self.args.no_load else [])
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)
        return self.proc

    def run(self, kind: str, index: int) -> tuple[str, str, float]:
        proc = self.proc if self.proc and self.proc.poll() is None else self.start()
        assert proc.stdin is not None and proc.stdout is not None
        t0 = time.monotonic()
        try:
            proc.stdin.write(f"{kind} {index}\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([proc.stdout], [], [], self.args.timeout)
        elapsed = time.monotonic() - t0
        if not ready:
            proc.kill()
            proc.wait()
            self.proc = None
            return "hang", f"no answer in {self.args.timeout} s", elapsed
        line = proc.stdout.readline()
        if not line:
            rc = proc.wait()
            self.proc = None
            sig = -rc if rc < 0 else 0
            name = signal.Signals(sig).name if sig else f"exit {rc}"
            return "crash", name, elapsed
        _k, _i, status, *rest = line.rstrip("\n").split(" ", 3)
        return status, rest[0] if rest else "", elapsed

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=("object", "btf", "both"), default="both")
    ap.add_argument("--cases", type=int, default=1000, help="cases per kind")
    ap.add_argument("--start", type=int, default=0, help="first case index")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds before a hang")
    ap.add_argument("--save", default=str(ROOT / "build" / "fuzz"),
                    help="directory for the inputs of findings")
    ap.add_argument("--no-load", action="store_true", help="never load into the kernel")
    ap.add_argument("--replay", help="run one saved input (kind from its name) here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return 0
    if args.replay:
        kind = "btf" if ".btf" in args.replay else "object"
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            status, detail = run_case(kind, Path(args.replay).read_bytes(), index=0,
                                      load=not args.no_load, tmp=tmp)
        print(status, detail)
        return 0 if status in ("ok", "bpferror") else 1

    objects, blobs = load_inputs()
    kinds = ["object", "btf"] if args.kind == "both" else [args.kind]
    save = Path(args.save)
    pool = Pool(args)
    findings: list[tuple[str, int, str, str]] = []
    counts: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in kinds}
    slowest: dict[str, tuple[float, int]] = {k: (0.0, -1) for k in kinds}
    t_start = time.monotonic()
    try:
        for kind in kinds:
            for index in range(args.start, args.start + args.cases):
                status, detail, elapsed = pool.run(kind, index)
                counts[kind][status] += 1
                slowest[kind] = max(slowest[kind], (elapsed, index))
                if status in ("ok", "bpferror"):
                    continue
                findings.append((kind, index, status, detail))
                save.mkdir(parents=True, exist_ok=True)
                ext = "btf" if kind == "btf" else "o"
                name = save / f"{status}-{kind}-s{args.seed}-{index}.{ext}"
                name.write_bytes(make_case(kind, args.seed, index, objects, blobs))
                print(f"FINDING {kind} case {index}: {status} {detail} -> {name}",
                      flush=True)
            c = counts[kind]
            print(f"{kind}: {sum(c.values())} cases, ok {c['ok']}, BPFError "
                  f"{c['bpferror']}, other exceptions {c['error']}, crashes {c['crash']}, "
                  f"hangs {c['hang']}; slowest case {slowest[kind][0]:.2f} s (#"
                  f"{slowest[kind][1]})", flush=True)
    finally:
        pool.close()
    print(f"{len(findings)} findings in {time.monotonic() - t_start:.0f} s")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
