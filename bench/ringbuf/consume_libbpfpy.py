#!/usr/bin/env python3
"""libbpfpy consumers for bench/bench_ringbuf.py (each run in its own process).

usage: consume_libbpfpy.py OBJ LOOP SECONDS MODE STYLE
  MODE 0: fixed-size records ({int pid; char comm[100]}), 1: variable (16..4000 bytes,
  typed by their 16-byte head).  STYLE, each the plain loop a user would write:

  callback      while ...: rb.poll(0.1)                  (callback per event)
  iterator      for ev in rb: ...
  read          while ...: ev = rb.read(0.1)
  batch         while ...: rb.read_batch(timeout=1)
  select        while ...: select([rb], [], [], 1); rb.read_batch()
  lease         while ...: with rb.lease(timeout=1) as arr: ...   (zero-copy views)

Prints one JSON line: consumed, produced, dropped, elapsed_s, cpu_s, maxrss_kb.
"""
from __future__ import annotations

import ctypes
import json
import resource
import select
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
        if style in ("batch", "select", "lease"):
            rb.read_batch()  # imports numpy now, not while the producer runs
        n = 0
        t0, c0 = time.monotonic(), cpu_seconds()
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
        elif style == "read":
            while True:
                if rb.read(0.1) is not None:
                    n += 1
                elif finished():      # checked when idle, not per event
                    break
        elif style == "batch":
            while not finished():
                n += len(rb.read_batch(timeout=1))
        elif style == "select":
            while not finished():
                if select.select([rb], [], [], 1)[0]:
                    n += len(rb.read_batch())
        elif style == "lease":
            while not finished():
                with rb.lease(timeout=1) as arr:
                    n += len(arr)
        elif style == "iterator":
            end = [0.0]

            def watcher() -> None:
                # Once the producer is gone and everything it made was read, stop.
                child.wait()
                produced, dropped = totals()
                while n < produced - dropped and time.monotonic() - t0 < 60:
                    time.sleep(0.002)
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
        else:
            raise SystemExit(f"unknown style {style!r}")
        t_end = end[0] if style == "iterator" else time.monotonic()
        cpu = cpu_seconds() - c0
        produced, dropped = totals()
        rb.close()
    print(json.dumps({"consumed": n, "produced": produced, "dropped": dropped,
                      "elapsed_s": t_end - t0, "cpu_s": cpu,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
