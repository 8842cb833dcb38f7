#!/usr/bin/env python3
"""libbpfpy consumers for bench/bench_ringbuf.py (each run in its own process).

usage: consume_libbpfpy.py OBJ LOOP SECONDS MODE STYLE
  MODE 0: fixed-size records ({int pid; char comm[100]}), 1: variable (16..4000 bytes,
  typed by their 16-byte head).  STYLE: callback | iterator | batch | batch-wakeup.
Prints one JSON line: consumed, produced, dropped, elapsed_s, cpu_s, maxrss_kb.
"""
from __future__ import annotations

import ctypes
import json
import resource
import subprocess
import sys
import threading
import time

from libbpfpy import ClosedError, Object, RingBuffer


class Event(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_int), ("comm", ctypes.c_char * 100)]


class VarHead(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint32), ("size", ctypes.c_uint32), ("seq", ctypes.c_uint64)]


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    obj_path, loop, secs, mode_s, style = sys.argv[1:]
    mode = int(mode_s)
    with Object.open(obj_path) as obj:
        obj.load()
        obj.attach()
        child = subprocess.Popen([loop, secs], stdin=subprocess.PIPE)
        obj.maps["bench_config"][0] = child.pid
        obj.maps["bench_config"][1] = mode
        counts = obj.maps["counts"]

        def totals() -> tuple[int, int]:
            return sum(counts[0]), sum(counts[1])

        etype = Event if mode == 0 else VarHead
        rb = RingBuffer(obj.maps["events"], lambda ev: None, event_type=etype)
        if style.startswith("batch"):
            rb.read_batch()  # imports numpy now, not while the producer runs
        n = 0
        cpu0 = time.monotonic(), cpu_seconds()
        t0, c0 = cpu0
        assert child.stdin is not None
        child.stdin.write(b"g")
        child.stdin.close()

        def finished() -> bool:
            if child.poll() is None:
                return False
            produced, dropped = totals()
            return n >= produced - dropped or time.monotonic() - t0 > 60

        if style == "callback":
            while not finished():
                n += rb.poll(0.1)
            t_end = time.monotonic()
        elif style == "batch":
            # Bulk reading: up to 32768 events per call (arrays of that size reuse
            # freed memory instead of faulting in fresh pages), pausing 1 ms whenever
            # little was waiting so that the next call has a worthwhile batch.
            while not finished():
                got = len(rb.read_batch(max_events=32768))
                n += got
                if got < 1024:
                    time.sleep(0.001)
            t_end = time.monotonic()
        elif style == "batch-wakeup":
            while not finished():
                n += len(rb.read_batch(max_events=32768, timeout=0.1))
            t_end = time.monotonic()
        elif style == "iterator":
            end = [0.0]

            def watcher() -> None:
                # Once the producer is gone and nothing is left to read, stop the loop.
                child.wait()
                while rb.wait(0.05):
                    time.sleep(0.005)
                end[0] = time.monotonic()
                rb.close()

            w = threading.Thread(target=watcher)
            w.start()
            try:
                for _ev in rb:
                    n += 1
            except ClosedError:
                pass
            w.join()
            t_end = end[0] - 0.05   # the watcher's final idle wait
        else:
            raise SystemExit(f"unknown style {style!r}")
        cpu = cpu_seconds() - c0
        produced, dropped = totals()
        rb.close()
    print(json.dumps({"consumed": n, "produced": produced, "dropped": dropped,
                      "elapsed_s": t_end - t0, "cpu_s": cpu,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
