"""Maps in bulk: batch syscalls a chunk at a time, decoded a chunk at a time, numpy.

Reading a map element by element costs two syscalls and a decode per key; the
kernel's batch operations (``BPF_MAP_LOOKUP_BATCH`` and friends, Linux >= 5.6) copy
thousands of keys and values per syscall into two flat buffers.  Everything that
walks a map goes through :class:`Batches`:

* ``items()``, ``keys()``, ``values()``, iteration and ``len()`` read chunks of about
  :data:`CHUNK_BYTES` into two reused buffers and decode each chunk with the
  codecs' ``decode_many`` (one C-level pass per chunk), so memory stays that of one
  chunk whatever the size of the map;
* :func:`read_all` (``lookup_batch()``, :func:`to_numpy`) reads the whole map with
  as few syscalls as it takes into two buffers, then decodes: into a list of pairs,
  or, for numpy, by interleaving keys and values with two strided copies into the
  structured result;
* where the kernel has no batch lookup (before Linux 5.6, or for a map type without
  one) the same buffers are filled by ``get_next_key`` + ``lookup`` per key: still no
  per-entry decoding, and the same results.

numpy is imported only by the functions that return or take arrays.
"""
from __future__ import annotations

import ctypes
import errno
import mmap
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import _codec
from ._raw import lib, opts

if TYPE_CHECKING:
    from .map import MapAPI

__all__ = ["Batches", "CHUNK_BYTES", "read_all", "to_numpy", "update_arrays",
           "delete_array", "is_array"]

#: bytes of keys + values read per syscall by items()/keys()/values()/iteration
CHUNK_BYTES = 256 * 1024
_MAX_FIRST_BYTES = 256 << 20   # to_numpy's first allocation at most
_ENOTSUPP = 524  # the kernel's internal "operation not supported" (leaks to user space)


def is_array(obj: Any) -> bool:
    """Whether ``obj`` is a numpy array (checked without importing numpy)."""
    return hasattr(obj, "__array_interface__") and hasattr(obj, "dtype")


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise ImportError("this needs numpy: pip install numpy") from None
    return numpy


class Batches:
    """One walk over a map: fills caller-given key/value memory a syscall at a time.

    ``read(keys_addr, values_addr, room)`` writes up to ``room`` entries and returns
    how many; 0 means the walk is over.  The first call decides between the kernel's
    batch operation ``call`` and the element-by-element walk (``batched`` tells which
    was taken).  ``need`` is set when the kernel wants more room in one call (a hash
    bucket larger than ``room``): call again with at least that much.
    """

    def __init__(self, m: MapAPI, call: str = "bpf_map_lookup_batch", *,
                 fallback: bool = True) -> None:
        m._check()
        self.m = m
        self.fd = m.fd
        self.call = call
        self.max_entries = m.max_entries
        self.fallback = fallback and call == "bpf_map_lookup_batch"
        lay = m._layout()
        self.key_size = lay.key_size
        self.ncpu = lay.ncpu
        self.slot = lay.stride          # one CPU's value (8-byte multiple if per-CPU)
        self.value_bytes = lay.value_bytes
        # The batch token is opaque: a bucket or an index for the kernel's maps,
        # never bigger than a key or a u64.
        token = max(self.key_size, 8)
        self._tokens = (ctypes.c_char * token)(), (ctypes.c_char * token)()
        self._token_size = token
        self._first = True
        self.done = False
        self._fn = getattr(lib, call)
        self._opts = opts("bpf_map_batch_opts")
        self._count = ctypes.c_uint32()
        self.batched: bool | None = None
        self.need = 0
        self._prev: int | None = None       # element walk: address of the last key

    def read(self, keys: int, values: int, room: int) -> int:
        """Fill up to ``room`` entries at ``keys``/``values`` (addresses).  Each read
        is a use of the map's owner (a suspended walk pins nothing; a map closed
        meanwhile raises ClosedError instead of reading a reused fd)."""
        self.need = 0
        if self.done or room <= 0:
            return 0
        with self.m._use():
            if self.batched is None or self.batched:
                n = self._read_batch(keys, values, room)
                if n >= 0:
                    return n
            return self._read_walk(keys, values, room)

    def _read_batch(self, keys: int, values: int, room: int) -> int:
        """Entries read by one batch syscall, or -1 to walk element by element."""
        count = self._count
        count.value = room
        in_tok, out_tok = self._tokens
        ret = self._fn(self.fd, None if self._first else in_tok, out_tok, keys, values,
                       ctypes.byref(count), ctypes.byref(self._opts))
        err = -ret if ret < 0 else 0
        if err and self._first and err in (errno.EINVAL, errno.EOPNOTSUPP, _ENOTSUPP) \
                and self.fallback:
            # No batch lookup for this map type (or kernel): walk key by key instead.
            self.batched = False
            return -1
        if err == errno.ENOSPC and count.value == 0 and room < self.max_entries:
            # One hash bucket holds more elements than ``room`` (never more than the
            # map can hold).
            self.need = min(room * 2, self.max_entries)
            return 0
        if err and err != errno.ENOENT:
            raise self.m._fail(ret, self.call)
        self.batched = True
        self._first = False
        if err == errno.ENOENT:
            self.done = True
        else:
            ctypes.memmove(in_tok, out_tok, self._token_size)
        return int(count.value)

    def _read_walk(self, keys: int, values: int, room: int) -> int:
        self.batched = False
        fd, ks, vb = self.fd, self.key_size, self.value_bytes
        next_key, lookup = lib.bpf_map_get_next_key, lib.bpf_map_lookup_elem
        prev = self._prev
        n = 0
        while n < room:
            k = keys + n * ks
            ret = next_key(fd, prev, k)
            if ret < 0:
                if -ret != errno.ENOENT:
                    raise self.m._fail(ret, "bpf_map_get_next_key")
                self.done = True
                break
            # The walk continues from this key even if it vanishes before the lookup.
            ctypes.memmove(self._tokens[0], k, ks)
            prev = ctypes.addressof(self._tokens[0])
            ret = lookup(fd, k, values + n * vb)
            if ret < 0:
                if -ret == errno.ENOENT:
                    continue            # deleted meanwhile
                raise self.m._fail(ret, "bpf_map_lookup_elem")
            n += 1
        self._prev = prev
        return n


# -- chunks for Python values -------------------------------------------------------------

def chunks(m: MapAPI, call: str = "bpf_map_lookup_batch", chunk: int | None = None, *,
           fallback: bool = True) -> Iterator[tuple[bytearray, bytearray, int, Batches]]:
    """``(keys, values, count, walk)`` per syscall into two reused buffers (decode
    each chunk before asking for the next).  ``fallback``: walk key by key where the
    kernel has no batch lookup (else NotSupportedError)."""
    b = Batches(m, call, fallback=fallback)
    entry = b.key_size + b.value_bytes
    room = chunk if chunk is not None else max(64, CHUNK_BYTES // max(entry, 1))
    room = max(1, min(room, max(m.max_entries, 1)))
    kbuf, vbuf = bytearray(room * b.key_size), bytearray(room * b.value_bytes)
    while True:
        n = b.read(_addr(kbuf), _addr(vbuf), room)
        if b.need:
            room = b.need
            kbuf, vbuf = bytearray(room * b.key_size), bytearray(room * b.value_bytes)
            continue
        if n:
            yield kbuf, vbuf, n, b
        if b.done or not n:
            return


def _addr(buf: bytearray) -> int:
    return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf)) if buf else 0


def decode_keys(m: MapAPI, buf: Any, n: int) -> list[Any]:
    """The ``n`` keys packed in ``buf``, decoded as ``m``'s lookups decode them."""
    return _codec.decode_many(m.key_codec, buf, n)


def decode_values(m: MapAPI, buf: Any, n: int, b: Batches) -> list[Any]:
    """The ``n`` values in ``buf`` (per-CPU: a list of one value per CPU each)."""
    codec = m.value_codec
    if b.ncpu == 1:
        return _codec.decode_many(codec, buf, n)
    flat = _codec.decode_many(codec, buf, n * b.ncpu, b.slot)
    c = b.ncpu
    return [flat[i:i + c] for i in range(0, n * c, c)]


# -- numpy ------------------------------------------------------------------------------

def _raw_dtype(np: Any, size: int) -> Any:
    return np.dtype(f"=u{size}") if size in (1, 2, 4, 8) else np.dtype(f"V{max(size, 1)}")


def _btf_dtype(np: Any, m: MapAPI, which: str, size: int) -> Any:
    obj = getattr(m, "object", None)
    btf = obj.btf if obj is not None and not obj.closed else None
    if btf is not None:
        key_t, value_t = btf.map_types(m)
        t = key_t if which == "key" else value_t
        if t is not None:
            try:
                dt = np.dtype(btf.numpy_dtype(t.id))
            except (TypeError, ValueError, KeyError):
                dt = None
            if dt is not None and dt.itemsize == size:
                return dt
    return _raw_dtype(np, size)


def _dtypes(np: Any, m: MapAPI) -> tuple[Any, Any, Any]:
    """Key, value and record dtypes of :func:`to_numpy`: fields ``key`` and ``value``
    (per-CPU: a ``(ncpu,)`` subarray of values), typed from BTF where the map has it,
    else unsigned ints of 1/2/4/8 bytes or ``V<size>``."""
    kdt = _btf_dtype(np, m, "key", m.key_size)
    vdt = _btf_dtype(np, m, "value", m.value_size)
    lay = m._layout()
    if lay.percpu:
        rec = np.dtype([("key", kdt), ("value", vdt, (lay.ncpu,))])
    else:
        rec = np.dtype([("key", kdt), ("value", vdt)])
    return kdt, vdt, rec


Buffer = bytearray | mmap.mmap


class Whole:
    """A whole map read by :func:`read_all`: ``n`` keys back to back in ``keys``, their
    values (per-CPU: ``ncpu`` slots of ``walk.slot`` bytes each) in ``values``.  Large
    buffers are anonymous mappings (pages the kernel did not write were never touched,
    and go back to the system with :meth:`close`); small ones ordinary memory."""

    def __init__(self, keys: Buffer, values: Buffer, n: int, walk: Batches) -> None:
        self.keys, self.values, self.n, self.walk = keys, values, n, walk

    def close(self) -> None:
        for buf in (self.keys, self.values):
            if isinstance(buf, mmap.mmap):
                buf.close()


_SMALL = 4 << 20    # buffers up to this many bytes come from the heap (likely warm)


def _buffer(size: int) -> Buffer:
    return bytearray(size) if size <= _SMALL else mmap.mmap(-1, size)


def _buffers(cap: int, b: Batches) -> tuple[Buffer, Buffer]:
    return _buffer(max(cap * b.key_size, 1)), _buffer(max(cap * b.value_bytes, 1))


def _address(mm: Buffer) -> int:
    view = ctypes.c_char.from_buffer(mm)
    try:
        return ctypes.addressof(view)
    finally:
        del view


def read_all(m: MapAPI, call: str = "bpf_map_lookup_batch", *, fallback: bool = True
             ) -> Whole:
    """Every entry of ``m`` with as few syscalls as possible: room for every entry
    the map can hold plus one, so that the kernel says "end" in the same call (very
    large maps start with 256 MiB and grow).  One read of the whole map first, then
    decoding: interleaving Python allocations with the kernel's walk of a large hash
    table makes the walk itself up to twice as slow here (caches)."""
    b = Batches(m, call, fallback=fallback)
    entry = b.key_size + b.value_bytes
    cap = min(m.max_entries + 1, max(_MAX_FIRST_BYTES // max(entry, 1), 1))
    keys, values = _buffers(cap, b)
    n = 0
    try:
        while True:
            got = b.read(_address(keys) + n * b.key_size,
                         _address(values) + n * b.value_bytes, cap - n)
            n += got
            if b.need or (n == cap and not b.done):
                cap = max(cap * 2, n + b.need)
                bigger = _buffers(cap, b)
                bigger[0][:n * b.key_size] = keys[:n * b.key_size]
                bigger[1][:n * b.value_bytes] = values[:n * b.value_bytes]
                Whole(keys, values, n, b).close()
                keys, values = bigger
                continue
            if b.done or not got:
                return Whole(keys, values, n, b)
    except BaseException:
        Whole(keys, values, n, b).close()
        raise


def to_numpy(m: MapAPI, call: str = "bpf_map_lookup_batch", *, fallback: bool = True
             ) -> Any:
    """Every entry of ``m`` as a structured array (see :func:`_dtypes`), read by
    :func:`read_all`, keys and values interleaved into it with two strided copies."""
    np = _numpy()
    if m.key_size == 0:
        raise TypeError(f"map {m.name!r} ({m.type.libbpf_name}) has no keys")
    _kdt, _vdt, rec = _dtypes(np, m)
    whole = read_all(m, call, fallback=fallback)
    try:
        n, b = whole.n, whole.walk
        ks, vs = b.key_size, m._layout().value_size
        # As bytes: padding inside keys and values is kept as the kernel wrote it,
        # as element lookups return it.
        out = np.empty(n, rec)
        dst = out.view(np.uint8).reshape(n, rec.itemsize)
        keys = np.frombuffer(whole.keys, np.uint8, n * ks).reshape(n, ks)
        vals = np.frombuffer(whole.values, np.uint8, n * b.value_bytes).reshape(
            n, b.ncpu, b.slot)
        dst[:, :ks] = keys
        dst[:, ks:ks + b.ncpu * vs].reshape(n, b.ncpu, vs)[...] = vals[:, :, :vs]
        del keys, vals          # numpy views of the mappings go before the mappings
    finally:
        whole.close()
    return out


# -- writing from numpy -----------------------------------------------------------------------

def _as_bytes_array(np: Any, arr: Any, size: int, what: str, m: MapAPI) -> tuple[Any, int]:
    """``arr`` as a C-contiguous array of ``n`` items of ``size`` bytes, and ``n``."""
    a = np.ascontiguousarray(arr)
    if a.ndim == 0:
        a = a.reshape(1)
    rows = a.shape[0]
    if rows and a.nbytes != rows * size:
        raise ValueError(f"{what} of map {m.name!r}: {a.dtype} items of "
                         f"{a.nbytes // rows} bytes each, the map's are {size} bytes")
    return a, rows


def _values_array(np: Any, m: MapAPI, values: Any, n: int) -> Any:
    """Values as the kernel wants them (per-CPU: ``ncpu`` slots of 8-byte multiples)."""
    if not m._layout().percpu:
        a, rows = _as_bytes_array(np, values, m.value_size, "values", m)
        if rows != n:
            raise ValueError(f"update_batch(): {n} keys but {rows} values")
        return a
    lay = m._layout()
    ncpu, slot, vs = lay.ncpu, lay.stride, lay.value_size
    a = np.ascontiguousarray(values)
    rows = a.shape[0] if a.ndim else 1
    raw = a.reshape(-1).view(np.uint8) if a.size else np.zeros(0, np.uint8)
    if rows == n and a.nbytes == n * ncpu * vs:
        # (n, ncpu) values: spread into 8-byte slots where they need padding
        flat = raw.reshape(n, ncpu, vs)
    elif rows == n and a.nbytes == n * vs:
        # one value per key: the same on every CPU
        flat = np.repeat(raw.reshape(n, 1, vs), ncpu, axis=1)
    else:
        raise ValueError(f"values of per-CPU map {m.name!r}: expected {n} rows of {ncpu} "
                         f"values of {vs} bytes (or one value each)")
    if slot == vs:
        return np.ascontiguousarray(flat)
    padded = np.zeros((n, ncpu, slot), np.uint8)
    padded[:, :, :vs] = flat
    return padded


def update_arrays(m: MapAPI, keys: Any, values: Any, flags: int) -> int:
    """``bpf_map_update_batch`` straight from numpy arrays; returns entries written."""
    np = _numpy()
    if values is None:
        if keys.dtype.names is None or "key" not in keys.dtype.names \
                or "value" not in keys.dtype.names:
            raise TypeError("update_batch(array): a structured array with fields 'key' and "
                            "'value', or update_batch(keys, values)")
        keys, values = keys["key"], keys["value"]
    k, n = _as_bytes_array(np, keys, m.key_size, "keys", m)
    m._check()
    if n == 0:
        return 0
    v = _values_array(np, m, values, n)
    count = ctypes.c_uint32(n)
    o = opts("bpf_map_batch_opts", elem_flags=int(flags))
    ret = lib.bpf_map_update_batch(m.fd, k.ctypes.data, v.ctypes.data, ctypes.byref(count),
                                   ctypes.byref(o))
    if ret < 0:
        raise m._fail(ret, "bpf_map_update_batch")
    return int(count.value)


def delete_array(m: MapAPI, keys: Any) -> int:
    """``bpf_map_delete_batch`` straight from a numpy array of keys."""
    np = _numpy()
    k, n = _as_bytes_array(np, keys, m.key_size, "keys", m)
    m._check()
    if n == 0:
        return 0
    count = ctypes.c_uint32(n)
    o = opts("bpf_map_batch_opts")
    ret = lib.bpf_map_delete_batch(m.fd, k.ctypes.data, ctypes.byref(count), ctypes.byref(o))
    if ret < 0 and -ret != errno.ENOENT:
        raise m._fail(ret, "bpf_map_delete_batch")
    return int(count.value)

