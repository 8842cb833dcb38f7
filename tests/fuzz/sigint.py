#!/usr/bin/env python3
"""Ctrl-C during libbpf calls: send SIGINTs to a child looping over ``Object.open``
(and ``load`` with ``--load``) and count how many surface as KeyboardInterrupt.

    python tests/fuzz/sigint.py --count 1000 [--load] [--object build/tests/hello.bpf.o]

The child reports how many KeyboardInterrupts it has caught; the next SIGINT is sent
only once the last one is counted (signals of one kind do not queue), so an interrupt
not counted within ``--wait`` seconds was lost.  Prints a one-line summary and exits
1 if any was lost.
"""
from __future__ import annotations

import argparse
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import os, sys, signal
from libbpfpy import Object
path, load = sys.argv[1], sys.argv[2] == "1"
data = open(path, "rb").read()
os.write(1, b"ready\n")
caught = 0
while True:
    try:
        # The running total (not one line per interrupt): an interrupt that lands
        # while the previous one is being reported is simply in the next total.
        os.write(1, b"%d\n" % caught)
        while True:
            obj = Object.open(data, name="sigint")
            try:
                if load:
                    obj.load()
            finally:
                obj.close()
    except KeyboardInterrupt:
        caught += 1
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--load", action="store_true", help="also load (needs privileges)")
    ap.add_argument("--object", default=str(ROOT / "build" / "tests" / "hello.bpf.o"))
    ap.add_argument("--wait", type=float, default=10.0,
                    help="seconds to wait for an acknowledgement")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, args.object,
                             "1" if args.load else "0"], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    out = proc.stdout.fileno()
    rng = random.Random(args.seed)
    buf = b""
    acks = 0

    def read_acks(timeout: float) -> bool:
        nonlocal buf, acks
        ready, _, _ = select.select([out], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(out, 4096)
        if not chunk:
            raise RuntimeError(f"the child exited ({proc.wait()})")
        buf += chunk
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            if line.isdigit():
                acks = max(acks, int(line))
        return True

    try:
        start = b""
        while b"ready\n" not in start:
            ready, _, _ = select.select([out], [], [], 30)
            chunk = os.read(out, 4096) if ready else b""
            if not chunk:
                print("child did not start", file=sys.stderr)
                return 2
            start += chunk
        missed = 0
        for sent in range(1, args.count + 1):
            time.sleep(rng.uniform(0.001, 0.02))   # land anywhere in the loop
            proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + args.wait
            while acks < sent - missed and time.monotonic() < deadline:
                read_acks(max(0.0, deadline - time.monotonic()))
            if acks < sent - missed:   # not acknowledged in time: lost
                missed += 1
        time.sleep(min(args.wait, 1.0))  # late acknowledgements still count
        while read_acks(0.1):
            pass
    finally:
        proc.kill()
        proc.wait()
    lost = args.count - acks
    what = "open+load" if args.load else "open"
    print(f"SIGINT during {what} loops: {args.count} sent, {acks} raised "
          f"KeyboardInterrupt, {lost} lost")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
