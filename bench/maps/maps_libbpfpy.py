#!/usr/bin/env python3
"""libbpfpy's side of bench_maps.py: fill and dump a u32 -> u64 hash of N entries.

usage: maps_libbpfpy.py N [N ...]
Per size: fill element by element (``m[k] = v``), with ``update_batch(dict)`` and
with ``update_batch(keys, values)`` from numpy arrays; dump element by element
(``next_key`` + ``m[k]``), with ``lookup_batch()`` (a list of pairs), ``to_numpy()``
and ``list(items())``.  Prints one JSON line of ns/entry per operation and size.
"""
from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from libbpfpy import MapHandle


def main() -> int:
    out: dict[str, object] = {}
    for n in map(int, sys.argv[1:]):
        r: dict[str, float] = {}
        keys = np.arange(n, dtype=np.uint32)
        vals = keys.astype(np.uint64) * 3
        pairs = dict(zip(range(n), range(0, 3 * n, 3), strict=True))
        with MapHandle.create("hash", 4, 8, n, name="bench") as a, \
                MapHandle.create("hash", 4, 8, n, name="bench") as b, \
                MapHandle.create("hash", 4, 8, n, name="bench") as c:
            t0 = time.perf_counter()
            for k in range(n):
                a[k] = k * 3
            r["fill_entry"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert b.update_batch(pairs) == n
            r["fill_batch"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert c.update_batch(keys, vals) == n
            r["fill_numpy"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            k = a.next_key()
            total = got = 0
            while k is not None:
                total += a[k]
                got += 1
                k = a.next_key(k)
            r["dump_entry"] = time.perf_counter() - t0
            assert got == n
            t0 = time.perf_counter()
            assert len(b.lookup_batch()) == n
            r["dump_batch"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert len(c.to_numpy()) == n
            r["dump_numpy"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            got = len(list(a.items()))      # kept, as BCC's items() list
            r["items"] = time.perf_counter() - t0
            assert got == n
        out[str(n)] = {name: secs / n * 1e9 for name, secs in r.items()}
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
