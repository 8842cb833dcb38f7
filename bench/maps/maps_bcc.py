#!/usr/bin/python3
"""BCC's side of bench_maps.py (Debian's python3-bpfcc under /usr/bin/python3).

usage: maps_bcc.py N [N ...]
Per size, a ``BPF_HASH(u32, u64)`` of N entries: fill with ``t[Key(k)] = Leaf(v)``
and with ``items_update_batch(keys, values)`` (ctypes arrays); dump with
``next(key)`` + ``t[key]`` per element, ``items_lookup_batch()`` and ``items()``.
Prints one JSON line of ns/entry per operation and size ({"error": ...} when BCC
cannot compile).
"""
import json
import resource
import sys
import time


def table(n):
    from bcc import BPF
    b = BPF(text=f"BPF_HASH(bench, u32, u64, {n});\n"
            "int noop(void *ctx) { return 0; }\n")
    return b, b["bench"]


def main():
    out = {}
    try:
        import bcc  # noqa: F401
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 0
    for n in map(int, sys.argv[1:]):
        r = {}
        try:
            ba, a = table(n)
            bb, b = table(n)
        except Exception as exc:
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
            return 0
        Key, Leaf = a.Key, a.Leaf
        t0 = time.perf_counter()
        for k in range(n):
            a[Key(k)] = Leaf(k * 3)
        r["fill_entry"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        keys = (Key * n)(*range(n))
        vals = (Leaf * n)(*range(0, 3 * n, 3))
        b.items_update_batch(keys, vals)
        r["fill_batch"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        total = got = 0
        k = None
        while True:
            try:
                k = a.next(k)
            except StopIteration:
                break
            total += a[k].value
            got += 1
        r["dump_entry"] = time.perf_counter() - t0
        assert got == n, got

        t0 = time.perf_counter()
        got = len(list(b.items_lookup_batch()))     # every pair, as libbpfpy's list
        r["dump_batch"] = time.perf_counter() - t0
        assert got == n, got

        t0 = time.perf_counter()
        got = len(a.items())
        r["items"] = time.perf_counter() - t0
        assert got == n, got
        ba.cleanup()
        bb.cleanup()
        out[str(n)] = {name: secs / n * 1e9 for name, secs in r.items()}
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
