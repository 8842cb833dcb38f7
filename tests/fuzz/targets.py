"""What the fuzzer does with each mutated input: the public APIs an untrusted file
reaches.  Every call either succeeds or raises a BPFError subclass; anything else
(another exception, a crash, a hang) is a finding.

* objects: ``Object.open`` (bytes and path), what ``libbpfpy inspect`` reads
  (programs, maps with their BTF types, globals and their values), the object's
  BTF as for a blob, and ``load()`` when privileged;
* BTF blobs: ``BTF.from_bytes``, every type's listing (``describe``/``as_dict``/C
  name), sizes, ``to_c``, ``format_value`` of zeroes, ctypes/numpy types and codecs.
"""
from __future__ import annotations

import os
from typing import Any

from libbpfpy import BTF, Object
from libbpfpy.btf import Kind

# Types that describe data (a ctypes type, codec and value formatting make sense).
_DATA_KINDS = {Kind.INT, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
               Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.FLOAT, Kind.PTR}
_MAX_TYPES = 400   # per case: keep cases quick on big blobs


def exercise_btf(btf: BTF, *, numpy: Any = None) -> None:
    """Walk every type of ``btf`` through the read-only APIs."""
    n = 0
    for t in btf:
        n += 1
        if n > _MAX_TYPES:
            break
        btf.describe(t)
        btf.as_dict(t)
        btf.type_name(t)
        if t.kind not in _DATA_KINDS:
            continue
        size = btf.size_of(t)
        btf.align_of(t)
        if size <= 1 << 16:
            btf.format_value(t, bytes(size))
        if t.kind == Kind.PTR:
            continue
        btf.ctypes_type(t)
        codec = btf.codec(t)
        if codec.size <= 1 << 20:
            codec.decode(bytes(codec.size))
        if numpy is not None:
            btf.numpy_dtype(t)
    btf.to_c()


def exercise_object(obj: Object) -> None:
    """What ``libbpfpy inspect`` and a user's first look at an object touch."""
    try:
        from libbpfpy.cli.inspect import describe_object
    except ImportError:  # an older libbpfpy (for before/after comparisons)
        from libbpfpy.cli import inspect

        def describe_object(obj: Any, path: str) -> Any:
            return ([inspect._program(p) for p in obj.programs.values()],
                    [inspect._map(obj, m) for m in obj.maps.values()],
                    inspect._globals(obj) if obj.btf is not None else [])
    describe_object(obj, "<fuzz>")
    for p in obj.programs.values():
        _ = (p.instructions, p.expected_attach_type)
    if obj.btf is not None:
        exercise_btf(obj.btf)


def run_object(data: bytes, *, via_path: str | None, load: bool) -> None:
    """Open (from bytes, or from ``via_path`` holding them), inspect, maybe load."""
    if via_path is not None:
        with open(via_path, "wb") as f:
            f.write(data)
        source: Any = via_path
    else:
        source = data
    try:
        with Object.open(source) as obj:
            exercise_object(obj)
            if load:
                obj.load()
                for m in obj.maps.values():
                    if m.key_size and not m.is_percpu:
                        m.lookup(bytes(m.key_size))
    finally:
        if via_path is not None:
            os.unlink(via_path)


def run_btf(data: bytes) -> None:
    """Parse a raw BTF blob and walk it."""
    with BTF.from_bytes(data, name="<fuzz>") as btf:
        exercise_btf(btf)
