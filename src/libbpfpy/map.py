"""BPF maps: an object's :class:`Map` and the owning :class:`MapHandle`.

Both share one API (:class:`MapAPI`): the ``MutableMapping`` protocol (``m[k]``,
``m[k] = v``, ``del m[k]``, iteration, ``len``) plus libbpf's element operations
(``lookup``, ``update`` with flags, ``delete``, ``lookup_and_delete``, ``next_key``),
batch operations, queue/stack ``push``/``pop``/``peek``, ``freeze``, pinning and
``info()``.

Keys and values accept ``int``, ``bytes`` of the exact size and ctypes instances;
where the map has BTF types they also accept plain Python values for them, and
lookups return typed values.  Per-CPU maps hold one value per possible CPU: lookups
return a list, updates take a list (one per CPU) or a single value for every CPU.
"""
from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _args, _codec
from ._fd import FdHandle, c_string, fd_by_id, obj_info
from ._lifetime import dup_fd, fd_kind, guarded
from ._raw import CONSTANTS, check_int, lib, opts
from ._raw import version_tuple as _libbpf_version
from .enums import MapFlags, MapType, UpdateFlags, parse_enum
from .errors import BPFError, NotSupportedError, error_for
from .fs import bpffs_hint

if TYPE_CHECKING:
    from .object import Object

__all__ = ["MapAPI", "Map", "MapHandle", "MapInfo", "possible_cpus"]

_MISSING: Any = object()

PERCPU_TYPES = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                          MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})
MAP_IN_MAP_TYPES = frozenset({MapType.HASH_OF_MAPS, MapType.ARRAY_OF_MAPS})
KEYLESS_TYPES = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER})
ARRAY_TYPES = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY,
                         MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY,
                         MapType.ARRAY_OF_MAPS})
# Arrays of fds: deleting an index empties its slot.  Plain arrays refuse (EINVAL).
_DELETABLE_ARRAYS = frozenset({MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
                               MapType.CGROUP_ARRAY, MapType.ARRAY_OF_MAPS})
_PUSHABLE = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER})


def _flag_text(flags: int) -> str:
    try:
        return f"{UpdateFlags(flags)!r}".split(":")[0].lstrip("<") + f" ({flags:#x})"
    except ValueError:
        return f"{flags:#x}"


def _flag_hint(m: MapAPI, flags: int) -> str:
    """Why the kernel says EINVAL to element flags on this map, where it is known."""
    low = flags & 3
    if flags & ~0x7:
        return ": unknown flag bits (element flags are ANY, NOEXIST, EXIST, F_LOCK)"
    if low == 3:
        return ": NOEXIST and EXIST exclude each other"
    if flags & UpdateFlags.F_LOCK:
        return (": F_LOCK needs a value with a struct bpf_spin_lock (declared with BTF) "
                f"and a map type that supports it; {m.type.libbpf_name} map {m.name!r} "
                "has none")
    if low == UpdateFlags.NOEXIST and m.type in ARRAY_TYPES:
        return f": every index of a {m.type.libbpf_name} map exists, NOEXIST cannot succeed"
    return ""


def possible_cpus() -> int:
    """Number of possible CPUs (``libbpf_num_possible_cpus``): per-CPU value count."""
    return check_int(lib.libbpf_num_possible_cpus(), "libbpf_num_possible_cpus")


@dataclass(frozen=True)
class MapInfo:
    """What the kernel reports of a map (``bpf_map_info``)."""

    id: int
    type: MapType
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    ifindex: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    map_extra: int

    @classmethod
    def from_fd(cls, fd: int) -> MapInfo:
        """Read the information of the map behind ``fd``."""
        info = obj_info(fd, "bpf_map_info", f"map fd {fd}")
        return cls(id=info.id, type=MapType(info.type), name=c_string(bytes(info.name)),
                   key_size=info.key_size, value_size=info.value_size,
                   max_entries=info.max_entries, flags=info.map_flags,
                   ifindex=info.ifindex, btf_id=info.btf_id,
                   btf_key_type_id=info.btf_key_type_id,
                   btf_value_type_id=info.btf_value_type_id, map_extra=info.map_extra)


def _buf(size: int) -> Any:
    return (ctypes.c_char * max(size, 1))()


class MapAPI(MutableMapping[Any, Any]):
    """Operations shared by :class:`Map` and :class:`MapHandle`.

    Subclasses provide ``fd``, ``name``, ``type``, ``key_size``, ``value_size`` and
    ``max_entries``, and ``_check()`` raising ClosedError after close.
    """

    name: str
    _key_codec_cache: Any = None
    _value_codec_cache: Any = None
    # Accessors on every element operation's path that need no use of their own
    # (see _lifetime.guarded): pure Python, or a use taken on their slow path.
    _unguarded_ = frozenset({"is_percpu", "key_codec", "value_codec"})

    # -- provided by subclasses --------------------------------------------------
    @property
    def fd(self) -> int:  # pragma: no cover - abstract
        """The map's file descriptor."""
        raise NotImplementedError

    @property
    def type(self) -> MapType:  # pragma: no cover - abstract
        """The map type."""
        raise NotImplementedError

    @property
    def key_size(self) -> int:  # pragma: no cover - abstract
        """Key size in bytes (0 for queues, stacks and bloom filters)."""
        raise NotImplementedError

    @property
    def value_size(self) -> int:  # pragma: no cover - abstract
        """Value size in bytes (per CPU for per-CPU maps)."""
        raise NotImplementedError

    @property
    def max_entries(self) -> int:  # pragma: no cover - abstract
        """Capacity."""
        raise NotImplementedError

    def _check(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _use(self) -> Any:  # pragma: no cover - abstract
        """A use of the owner of the map's fd (see :class:`~libbpfpy._lifetime.Owner`)."""
        raise NotImplementedError

    def _adopt(self, dependant: Any) -> None:  # pragma: no cover - abstract
        """Close ``dependant`` (a buffer over this map) before the map's fd goes away:
        with the object for an object's map, with the handle for a MapHandle."""
        raise NotImplementedError

    # -- data conversion ----------------------------------------------------------
    @property
    def is_percpu(self) -> bool:
        """Whether each key holds one value per possible CPU."""
        return self.type in PERCPU_TYPES

    @property
    def key_codec(self) -> _codec.Codec:
        """How keys are converted (typed from BTF where the map has key type info)."""
        if self._key_codec_cache is None:
            self._key_codec_cache = _codec.for_map(self, "key", self.key_size)
        return self._key_codec_cache  # type: ignore[no-any-return]

    @property
    def value_codec(self) -> _codec.Codec:
        """How values are converted (typed from BTF where the map has value type info)."""
        if self._value_codec_cache is None:
            self._value_codec_cache = _codec.for_map(self, "value", self.value_size)
        return self._value_codec_cache  # type: ignore[no-any-return]

    def _what(self, part: str) -> str:
        return f"{part} of map {self.name!r}"

    def _key_buf(self, key: Any) -> Any:
        if self.key_size == 0:
            raise TypeError(f"map {self.name!r} ({self.type.libbpf_name}) has no keys; "
                            "use push()/pop()/peek()")
        data = self._encode(self.key_codec, key, "key")
        return (ctypes.c_char * self.key_size).from_buffer_copy(data)

    def _encode(self, codec: _codec.Codec, value: Any, part: str) -> bytes:
        try:
            return codec.encode(value)
        except (TypeError, ValueError) as exc:
            # Any ctypes object of exactly the right size is taken as raw bytes,
            # whatever type a BTF-typed codec expects.
            if _codec.is_ctypes_instance(value):
                if ctypes.sizeof(value) == codec.size:
                    return _codec.to_bytes(value, codec.size, part)
                raise ValueError(f"{self._what(part)} must be {codec.size} bytes, got "
                                 f"{ctypes.sizeof(value)} ({type(value).__name__})"
                                 ) from None
            msg = str(exc)
            for word in ("key", "value"):
                if msg.startswith(word + ": "):
                    msg = ": " + msg[len(word) + 2:]
                    break
                if msg.startswith(word + " "):
                    msg = " " + msg[len(word) + 1:]
                    break
            else:
                msg = ": " + msg
            raise type(exc)(f"{self._what(part)}{msg}") from None

    def _stride(self) -> int:
        return (self.value_size + 7) & ~7

    def _value_buf(self, value: Any = _MISSING) -> Any:
        if isinstance(value, MapAPI) and self.type in MAP_IN_MAP_TYPES:
            value = value.fd  # a map-in-map slot is written with the inner map's fd
        if self.is_percpu:
            ncpu = possible_cpus()
            stride = self._stride()
            buf = _buf(stride * ncpu)
            if value is _MISSING:
                return buf
            values = value if isinstance(value, list) else [value] * ncpu
            if len(values) != ncpu:
                raise ValueError(f"{self._what('value')}: per-CPU map needs {ncpu} values "
                                 f"(one per possible CPU), got {len(values)}")
            for i, v in enumerate(values):
                data = self._encode(self.value_codec, v, "value")
                ctypes.memmove(ctypes.addressof(buf) + i * stride, data, len(data))
            return buf
        buf = _buf(self.value_size)
        if value is not _MISSING:
            data = self._encode(self.value_codec, value, "value")
            ctypes.memmove(buf, data, len(data))
        return buf

    def _decode_value(self, buf: Any) -> Any:
        raw = bytes(buf)
        if self.is_percpu:
            stride = self._stride()
            return [self.value_codec.decode(raw[i:i + self.value_size])
                    for i in range(0, len(raw), stride)]
        return self.value_codec.decode(raw[:self.value_size])

    def _decode_key(self, buf: Any) -> Any:
        return self.key_codec.decode(bytes(buf)[:self.key_size])

    def _fail(self, ret: int, call: str, flags: int = 0) -> BPFError:
        err = -ret if ret < 0 else (ctypes.get_errno() or errno.EINVAL)
        if err == errno.EPERM and call.startswith(("bpf_map_update", "bpf_map_delete",
                                                   "bpf_map_lookup_and_delete")) \
                and self._frozen():
            return BPFError(err, f"{call}() on map {self.name!r}: the map is frozen "
                            "(read-only for user space since freeze())", call=call,
                            target=self.name)
        if err in (errno.EOPNOTSUPP, 524) and call.endswith("batch"):
            return NotSupportedError(
                f"{call}() on map {self.name!r}: not supported for "
                f"{self.type.libbpf_name} maps by this kernel", err=err, call=call,
                target=self.name)
        if err == errno.EINVAL and flags:
            return BPFError(err, f"{call}() on map {self.name!r}: the kernel refused flags "
                            f"{_flag_text(flags)}{_flag_hint(self, flags)}", call=call,
                            target=self.name)
        return error_for(err, f"{call}() on map {self.name!r} failed: {os.strerror(err)}",
                         call=call, target=self.name)

    def _found(self, ret: int, call: str, flags: int = 0) -> bool:
        """True when the element operation succeeded, False when the element (or the
        next key, or a queue's head) does not exist (ENOENT); other errors raise."""
        if ret >= 0:
            return True
        if -ret == errno.ENOENT:
            return False
        raise self._fail(ret, call, flags)

    # -- element operations -------------------------------------------------------------
    def lookup(self, key: Any, *, flags: int = 0) -> Any:
        """The value at ``key``, or None if there is none."""
        flags = _args.uint(flags, "flags", 64)
        k = self._key_buf(key)
        v = self._value_buf()
        if not self._found(lib.bpf_map_lookup_elem_flags(self.fd, k, v, flags),
                           "bpf_map_lookup_elem", flags):
            return None
        return self._decode_value(v)

    def update(self, key: Any = _MISSING, value: Any = _MISSING,  # type: ignore[override]
               flags: int = UpdateFlags.ANY, **kwargs: Any) -> None:
        """Set ``key`` to ``value`` with ``flags``: ``UpdateFlags.ANY`` (create or
        replace), ``NOEXIST`` (create only: BPFError with errno EEXIST if the key
        exists), ``EXIST`` (replace only: KeyError if it does not), ``F_LOCK`` (under
        the value's ``bpf_spin_lock``; Linux >= 5.1).

        Called with a mapping or (key, value) pairs instead, behaves as
        ``MutableMapping.update``.
        """
        if value is _MISSING:
            if key is _MISSING:
                MutableMapping.update(self, **kwargs)
            else:
                MutableMapping.update(self, key, **kwargs)
            return
        if kwargs:
            raise TypeError(f"update() got unexpected keyword arguments {sorted(kwargs)}")
        flags = _args.uint(flags, "flags", 64)
        k = self._key_buf(key)
        v = self._value_buf(value)
        ret = lib.bpf_map_update_elem(self.fd, k, v, flags)
        if ret < 0:
            err = -ret
            if err == errno.EEXIST and flags & UpdateFlags.NOEXIST:
                raise BPFError(err, f"key {key!r} already exists in map {self.name!r} "
                               "(update with NOEXIST)", call="bpf_map_update_elem",
                               target=self.name)
            if err == errno.ENOENT and flags & UpdateFlags.EXIST:
                raise KeyError(key)
            if err == errno.E2BIG:
                if self.type in ARRAY_TYPES:
                    raise IndexError(f"index {key!r} is out of range for {self.type.libbpf_name}"
                                     f" map {self.name!r} (max_entries={self.max_entries})")
                raise BPFError(err, f"map {self.name!r} is full "
                               f"(max_entries={self.max_entries})",
                               call="bpf_map_update_elem", target=self.name)
            raise self._fail(ret, "bpf_map_update_elem", flags)

    def delete(self, key: Any) -> bool:
        """Remove ``key``; return whether it was there."""
        self._check()
        if self.type in ARRAY_TYPES and self.type not in _DELETABLE_ARRAYS:
            raise NotSupportedError(
                f"elements of {self.type.libbpf_name} map {self.name!r} cannot be deleted: "
                "every index always exists (write a zero value instead)", err=errno.EINVAL,
                call="bpf_map_delete_elem", target=self.name)
        return self._found(lib.bpf_map_delete_elem(self.fd, self._key_buf(key)),
                           "bpf_map_delete_elem")

    def lookup_and_delete(self, key: Any) -> Any:
        """Remove ``key`` and return its value, or None if there was none."""
        k = self._key_buf(key)
        v = self._value_buf()
        if not self._found(lib.bpf_map_lookup_and_delete_elem(self.fd, k, v),
                           "bpf_map_lookup_and_delete_elem"):
            return None
        return self._decode_value(v)

    def next_key(self, key: Any = None) -> Any:
        """The key after ``key`` (the first key when ``key`` is None), or None at the end."""
        self._check()
        if self.key_size == 0:
            raise TypeError(f"map {self.name!r} has no keys")
        nxt = _buf(self.key_size)
        cur = None if key is None else self._key_buf(key)
        if not self._found(lib.bpf_map_get_next_key(self.fd, cur, nxt),
                           "bpf_map_get_next_key"):
            return None
        return self._decode_key(nxt)

    def _raw_keys(self) -> Iterator[bytes]:
        cur = None
        nxt = _buf(self.key_size)
        while True:
            with self._use():  # a step at a time: a suspended walk pins nothing
                ret = lib.bpf_map_get_next_key(self.fd, cur, nxt)
            if not self._found(ret, "bpf_map_get_next_key"):
                return
            raw = bytes(nxt)
            yield raw
            cur = (ctypes.c_char * self.key_size).from_buffer_copy(raw)

    # -- MutableMapping -----------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        value = self.lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value, UpdateFlags.ANY)

    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        self._check()
        if self.key_size == 0:
            raise TypeError(f"map {self.name!r} ({self.type.libbpf_name}) has no keys")
        for raw in self._raw_keys():
            yield self._decode_key(raw)

    def __len__(self) -> int:
        self._check()
        if self.type in ARRAY_TYPES:
            return self.max_entries
        if self.key_size == 0:
            raise TypeError(f"map {self.name!r} ({self.type.libbpf_name}) has no keys")
        return sum(1 for _ in self._raw_keys())

    def __contains__(self, key: object) -> bool:
        if self.type == MapType.BLOOM_FILTER:
            return self.may_contain(key)
        return self.lookup(key) is not None

    def may_contain(self, value: Any) -> bool:
        """Bloom filter: False if ``value`` was certainly never pushed, True if it may
        have been (``value in m`` says the same).  Requires Linux >= 5.16."""
        if self.type != MapType.BLOOM_FILTER:
            raise TypeError(f"may_contain() is for bloom filters; map {self.name!r} is "
                            f"{self.type.libbpf_name}")
        return self._found(lib.bpf_map_lookup_elem(self.fd, None, self._value_buf(value)),
                           "bpf_map_lookup_elem")

    def items(self) -> Any:
        """(key, value) pairs, read one element at a time (see lookup_batch)."""
        return _Items(self)

    def clear(self) -> None:
        """Delete every key (arrays cannot be cleared: their elements always exist)."""
        if self.type in ARRAY_TYPES:
            raise NotSupportedError(f"elements of {self.type.libbpf_name} map "
                                    f"{self.name!r} cannot be deleted", err=errno.EINVAL)
        for raw in list(self._raw_keys()):
            lib.bpf_map_delete_elem(self.fd, (ctypes.c_char * self.key_size)
                                    .from_buffer_copy(raw))

    # -- batch operations ----------------------------------------------------------------
    def _batch(self, call: str, chunk: int) -> list[tuple[Any, Any]]:
        self._check()
        # Buffers for `chunk` elements are allocated up front: never more than the map
        # can hold (a bucket larger than that still grows the chunk below).
        chunk = min(_args.uint(chunk, "chunk", minimum=1), max(self.max_entries, 1))
        fn = getattr(lib, call)
        ncpu = possible_cpus() if self.is_percpu else 1
        vsize = self._stride() * ncpu if self.is_percpu else self.value_size
        # The batch token is opaque: a bucket or an index for the kernel's maps,
        # never bigger than a key or a u64.
        token_size = max(self.key_size, 8)
        in_tok, out_tok = _buf(token_size), _buf(token_size)
        first = True
        out: list[tuple[Any, Any]] = []
        options = opts("bpf_map_batch_opts")
        keys, values = _buf(self.key_size * chunk), _buf(vsize * chunk)
        while True:
            count = ctypes.c_uint32(chunk)
            ret = fn(self.fd, None if first else in_tok, out_tok, keys, values,
                     ctypes.byref(count), ctypes.byref(options))
            err = -ret if ret < 0 else 0
            if err == errno.ENOSPC and count.value == 0 and chunk < self.max_entries:
                # One hash bucket holds more elements than a chunk: grow and retry.
                chunk = min(chunk * 2, self.max_entries)
                keys, values = _buf(self.key_size * chunk), _buf(vsize * chunk)
                continue
            if ret < 0 and err != errno.ENOENT:
                raise self._fail(ret, call)
            raw_k, raw_v = bytes(keys), bytes(values)
            for i in range(count.value):
                k = self.key_codec.decode(raw_k[i * self.key_size:(i + 1) * self.key_size])
                chunk_v = raw_v[i * vsize:(i + 1) * vsize]
                out.append((k, self._decode_value(chunk_v)))
            if err == errno.ENOENT:
                return out
            ctypes.memmove(in_tok, out_tok, token_size)
            first = False

    def lookup_batch(self, *, chunk: int = 256) -> list[tuple[Any, Any]]:
        """Every (key, value) pair, read ``chunk`` elements per syscall.

        Requires Linux >= 5.6."""
        return self._batch("bpf_map_lookup_batch", chunk)

    def lookup_and_delete_batch(self, *, chunk: int = 256) -> list[tuple[Any, Any]]:
        """Every (key, value) pair, removing each as it is read.  Requires Linux >= 5.6."""
        return self._batch("bpf_map_lookup_and_delete_batch", chunk)

    def update_batch(self, items: Iterable[tuple[Any, Any]] | dict[Any, Any], *,
                     flags: int = UpdateFlags.ANY) -> int:
        """Write many (key, value) pairs in one syscall; return how many were written."""
        flags = _args.uint(flags, "flags", 64)
        pairs = list(items.items() if isinstance(items, dict) else items)
        if not pairs:
            self._check()
            return 0
        ncpu_vals = [self._value_buf(v) for _, v in pairs]
        keys = b"".join(self._encode(self.key_codec, k, "key") for k, _ in pairs)
        values = b"".join(bytes(b) for b in ncpu_vals)
        count = ctypes.c_uint32(len(pairs))
        options = opts("bpf_map_batch_opts", elem_flags=flags)
        kb = ctypes.create_string_buffer(keys, len(keys))
        vb = ctypes.create_string_buffer(values, len(values))
        ret = lib.bpf_map_update_batch(self.fd, kb, vb, ctypes.byref(count),
                                       ctypes.byref(options))
        if ret < 0:
            raise self._fail(ret, "bpf_map_update_batch", flags)
        return count.value

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """Delete many keys in one syscall; return how many were deleted."""
        ks = list(keys)
        if not ks:
            self._check()
            return 0
        raw = b"".join(self._encode(self.key_codec, k, "key") for k in ks)
        kb = ctypes.create_string_buffer(raw, len(raw))
        count = ctypes.c_uint32(len(ks))
        options = opts("bpf_map_batch_opts")
        ret = lib.bpf_map_delete_batch(self.fd, kb, ctypes.byref(count),
                                       ctypes.byref(options))
        if ret < 0 and -ret != errno.ENOENT:
            raise self._fail(ret, "bpf_map_delete_batch")
        return count.value

    # -- queue / stack -------------------------------------------------------------------
    def push(self, value: Any, *, flags: int = UpdateFlags.ANY) -> None:
        """Append to a queue or stack map (``BPF_EXIST`` overwrites the oldest when full)."""
        flags = _args.uint(flags, "flags", 64)
        self._check()
        if self.type not in _PUSHABLE:
            raise TypeError(f"push() is for queue, stack and bloom filter maps; map "
                            f"{self.name!r} is a {self.type.libbpf_name} map: set "
                            "m[key] = value instead")
        ret = lib.bpf_map_update_elem(self.fd, None, self._value_buf(value), flags)
        if ret < 0:
            if -ret == errno.E2BIG:
                raise BPFError(-ret, f"{self.type.libbpf_name} map {self.name!r} is full",
                               call="bpf_map_update_elem", target=self.name)
            raise self._fail(ret, "bpf_map_update_elem", flags)

    def pop(self, *args: Any) -> Any:
        """Queue/stack: remove and return the next value, or None when empty.

        With a key (``pop(key[, default])``) behaves as ``MutableMapping.pop``.
        """
        if args or self.key_size:
            return MutableMapping.pop(self, *args)
        self._check()
        if self.type not in (MapType.QUEUE, MapType.STACK):
            raise TypeError(f"pop() without a key is for queue and stack maps; map "
                            f"{self.name!r} is a {self.type.libbpf_name} map")
        v = self._value_buf()
        if not self._found(lib.bpf_map_lookup_and_delete_elem(self.fd, None, v),
                           "bpf_map_lookup_and_delete_elem"):
            return None
        return self._decode_value(v)

    def peek(self) -> Any:
        """Queue/stack: the next value without removing it, or None when empty."""
        if self.type == MapType.BLOOM_FILTER:
            raise TypeError(f"bloom filter {self.name!r} cannot be peeked: use "
                            "may_contain(value) or `value in map`")
        self._check()
        if self.type not in (MapType.QUEUE, MapType.STACK):
            raise TypeError(f"peek() is for queue and stack maps; map {self.name!r} is a "
                            f"{self.type.libbpf_name} map: use lookup(key)")
        v = self._value_buf()
        if not self._found(lib.bpf_map_lookup_elem(self.fd, None, v), "bpf_map_lookup_elem"):
            return None
        return self._decode_value(v)

    # -- other -----------------------------------------------------------------------------
    def inner(self, key: Any) -> MapHandle | None:
        """Map-in-map: open the inner map at ``key`` (None for an empty slot).

        A lookup in a map of maps returns the inner map's id; this opens it."""
        if self.type not in MAP_IN_MAP_TYPES:
            raise TypeError(f"map {self.name!r} ({self.type.libbpf_name}) is not a map "
                            "of maps")
        inner_id = self.lookup(key)
        return None if inner_id is None else MapHandle.from_id(int(inner_id))

    def _frozen(self) -> bool:
        try:
            with open(f"/proc/self/fdinfo/{self.fd}") as f:
                return any(line.split() == ["frozen:", "1"] for line in f)
        except OSError:
            return False

    def freeze(self) -> None:
        """Make the map read-only for user space from now on.  Requires Linux >= 5.2."""
        check_int(lib.bpf_map_freeze(self.fd), "bpf_map_freeze", f"map {self.name!r}")

    def info(self) -> MapInfo:
        """What the kernel reports of this map (id, type, sizes, flags, BTF ids)."""
        return MapInfo.from_fd(self.fd)

    @property
    def id(self) -> int:
        """The kernel's id of this map."""
        return self.info().id

    def __repr__(self) -> str:
        state = "closed" if getattr(self, "_closed", False) else self.type.libbpf_name
        return f"<{type(self).__name__} {self.name!r} {state}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __bool__(self) -> bool:
        return True


class _Items:
    """Live (key, value) view: each iteration walks the map anew."""

    def __init__(self, m: MapAPI) -> None:
        self._m = m

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        m = self._m
        for raw in list(m._raw_keys()):
            key = m._decode_key(raw)
            value = m.lookup(key)
            if value is not None:  # deleted meanwhile
                yield key, value

    def __len__(self) -> int:
        return len(self._m)

    def __repr__(self) -> str:
        return f"ItemsView({list(self)!r})"


@guarded("_obj")
class Map(MapAPI):
    """A map of an :class:`~libbpfpy.Object` (libbpf's ``struct bpf_map``).

    A borrowed view: valid while its object is open.  Its definition can be changed
    before the object is loaded (``type``, sizes, ``max_entries``, ``flags``,
    ``inner_map``, ``autocreate``, ``pin_path``, ``reuse_fd``).
    """

    _unguarded_ = frozenset({"type", "key_size", "value_size", "max_entries", "fd"})

    def __init__(self, obj: Object, ptr: int) -> None:
        self._obj = obj
        self._ptr = ptr
        self.name = lib.bpf_map__name(ptr).decode()
        self._fd_cache = -1
        self._fixed: tuple[MapType, int, int, int] | None = None

    def _definition(self) -> tuple[MapType, int, int, int]:
        """(type, key_size, value_size, max_entries): read from libbpf under a use,
        and kept once the object is loaded (when the definition can no longer
        change), so element operations read it without a libbpf call."""
        fixed = self._fixed
        if fixed is not None:
            self._check()
            return fixed
        with self._obj._use():
            self._check()
            p = self._ptr
            d = (MapType(lib.bpf_map__type(p)), int(lib.bpf_map__key_size(p)),
                 int(lib.bpf_map__value_size(p)), int(lib.bpf_map__max_entries(p)))
            if self._obj._load_attempted:
                self._fixed = d
        return d

    def _check(self) -> None:
        self._obj._check_open(f"map {self.name!r}")

    def _use(self) -> Any:
        return self._obj._use()

    def _adopt(self, dependant: Any) -> None:
        self._obj._adopt(dependant)

    @property
    def _closed(self) -> bool:
        return self._obj.closed

    @property
    def object(self) -> Object:
        """The object this map belongs to."""
        return self._obj

    @property
    def fd(self) -> int:
        """The map's file descriptor (after load); owned by the object."""
        if self._fd_cache >= 0:
            self._check()
            return self._fd_cache
        with self._obj._use():
            self._check()
            fd = lib.bpf_map__fd(self._ptr)
            # libbpf >= 1.3 holds a placeholder fd (a memfd) for a map it did not
            # create, so that map fds are known at open time: that is no map either.
            if fd < 0 or fd_kind(fd) != "map":
                raise BPFError(errno.EBADF, f"map {self.name!r} has no fd: "
                               "load the object first (or the map is not autocreated)",
                               target=self.name)
            self._fd_cache = fd
        return self._fd_cache

    def _before_load(self, call: str) -> None:
        self._check()
        self._obj._require_unloaded(call, f"map {self.name!r}", self.name)

    def _set(self, call: str, *args: Any) -> None:
        with self._obj._use():     # (the definition setters are not wrapped)
            self._before_load(call)
            ret = getattr(lib, call)(self._ptr, *args)
        if ret is not None and ret < 0:
            check_int(ret, call, f"map {self.name!r}")
        self._key_codec_cache = self._value_codec_cache = None

    def _guard_layout(self, what: str) -> None:
        # libbpf holds memory sized from these for its internal maps (the mmap'ed
        # contents of .data/.bss/.rodata/.kconfig) and struct_ops maps: libbpf 1.1
        # changes the number, not the memory, and later frees or copies the wrong
        # size.  Refused here instead of corrupting the process.
        with self._obj._use():
            self._before_load(f"bpf_map__set_{what}")
            internal = bool(lib.bpf_map__is_internal(self._ptr))
        if self.type == MapType.STRUCT_OPS or (internal and not (
                what == "value_size" and _libbpf_version >= (1, 3))):
            raise BPFError(errno.EINVAL, f"the {what} of map {self.name!r} cannot be "
                           f"changed: libbpf lays out its memory "
                           f"({'global data' if internal else 'struct_ops'})",
                           call=f"bpf_map__set_{what}", target=self.name)

    @property
    def type(self) -> MapType:
        """The map type; settable before load (not for libbpf's global-data maps)."""
        return self._definition()[0]

    @type.setter
    def type(self, value: MapType | int | str) -> None:
        self._guard_layout("type")
        new = parse_enum(MapType, value)
        old = self.type
        # libbpf keeps type-specific state from the object file for these (struct_ops
        # data, initial slots of map-in-map and program arrays) and 1.1 would use it
        # with the wrong type at load: refuse rather than crash.
        special = (MapType.STRUCT_OPS, MapType.PROG_ARRAY) + tuple(MAP_IN_MAP_TYPES)
        if new != old and (new == MapType.STRUCT_OPS or old in special):
            raise BPFError(errno.EINVAL, f"map {self.name!r} cannot change from "
                           f"{old.libbpf_name} to {new.libbpf_name}: libbpf keeps "
                           f"{old.libbpf_name}-specific state for it",
                           call="bpf_map__set_type", target=self.name)
        self._set("bpf_map__set_type", int(new))

    @property
    def key_size(self) -> int:
        """Key size in bytes; settable before load."""
        return self._definition()[1]

    @key_size.setter
    def key_size(self, value: int) -> None:
        self._guard_layout("key_size")
        self._set("bpf_map__set_key_size", _args.uint(value, "key_size"))

    @property
    def value_size(self) -> int:
        """Value size in bytes; settable before load."""
        return self._definition()[2]

    @value_size.setter
    def value_size(self, value: int) -> None:
        self._guard_layout("value_size")
        self._set("bpf_map__set_value_size", _args.uint(value, "value_size"))

    @property
    def max_entries(self) -> int:
        """Capacity (bytes for ring buffers); settable before load."""
        return self._definition()[3]

    @max_entries.setter
    def max_entries(self, value: int) -> None:
        self._guard_layout("max_entries")
        self._set("bpf_map__set_max_entries", _args.uint(value, "max_entries"))

    @property
    def flags(self) -> MapFlags:
        """Creation flags (``map_flags``); settable before load."""
        self._check()
        return MapFlags(lib.bpf_map__map_flags(self._ptr))

    @flags.setter
    def flags(self, value: int) -> None:
        self._guard_layout("flags")
        self._set("bpf_map__set_map_flags", _args.uint(value, "flags"))

    @property
    def map_extra(self) -> int:
        """Type-specific extra (bloom filter hash count); settable before load."""
        self._check()
        return int(lib.bpf_map__map_extra(self._ptr))

    @map_extra.setter
    def map_extra(self, value: int) -> None:
        self._set("bpf_map__set_map_extra", _args.uint(value, "map_extra", 64))

    @property
    def numa_node(self) -> int:
        """NUMA node; settable before load."""
        self._check()
        return int(lib.bpf_map__numa_node(self._ptr))

    @numa_node.setter
    def numa_node(self, value: int) -> None:
        self._set("bpf_map__set_numa_node", _args.uint(value, "numa_node"))

    @property
    def ifindex(self) -> int:
        """Device for offload (0 for none); settable before load."""
        self._check()
        return int(lib.bpf_map__ifindex(self._ptr))

    @ifindex.setter
    def ifindex(self, value: int) -> None:
        self._set("bpf_map__set_ifindex", _args.uint(value, "ifindex"))

    @property
    def inner_map(self) -> None:
        """Write-only: the template map (a Map or MapHandle) of a map-in-map."""
        raise AttributeError("inner_map is write-only")

    @inner_map.setter
    def inner_map(self, value: MapAPI | int) -> None:
        fd = value if isinstance(value, int) else value.fd
        self._set("bpf_map__set_inner_map_fd", fd)

    @property
    def autocreate(self) -> bool:
        """Whether load() creates this map; settable before load."""
        self._check()
        return bool(lib.bpf_map__autocreate(self._ptr))

    @autocreate.setter
    def autocreate(self, value: bool) -> None:
        self._set("bpf_map__set_autocreate", bool(value))

    @property
    def pin_path(self) -> str | None:
        """Where the map is (or will be) pinned; set before load to pin or reuse there."""
        self._check()
        raw = lib.bpf_map__pin_path(self._ptr)
        return raw.decode() if raw else None

    @pin_path.setter
    def pin_path(self, value: str | os.PathLike[str] | None) -> None:
        self._set("bpf_map__set_pin_path",
                  None if value is None else os.fsencode(os.fspath(value)))

    @property
    def is_pinned(self) -> bool:
        """Whether libbpf pinned this map."""
        self._check()
        return bool(lib.bpf_map__is_pinned(self._ptr))

    @property
    def is_internal(self) -> bool:
        """Whether libbpf made this map for globals (.data, .bss, .rodata, .kconfig)."""
        self._check()
        return bool(lib.bpf_map__is_internal(self._ptr))

    @property
    def btf_key_type_id(self) -> int:
        """BTF type id of the key (0 if none)."""
        self._check()
        return int(lib.bpf_map__btf_key_type_id(self._ptr))

    @property
    def btf_value_type_id(self) -> int:
        """BTF type id of the value (0 if none)."""
        self._check()
        return int(lib.bpf_map__btf_value_type_id(self._ptr))

    def reuse_fd(self, fd: int) -> None:
        """Before load: use the existing map ``fd`` instead of creating this map.

        libbpf keeps its own duplicate of ``fd`` and takes the map's definition
        (type, sizes, flags) from it."""
        self._before_load("bpf_map__reuse_fd")
        if fd_kind(fd) != "map":
            raise BPFError(errno.EINVAL, f"reuse_fd({fd}) for map {self.name!r}: fd {fd} "
                           "is not a BPF map", call="bpf_map__reuse_fd", target=self.name)
        if lib.bpf_map__is_internal(self._ptr) or self.type == MapType.STRUCT_OPS:
            # libbpf would adopt the other map's sizes for memory it laid out with
            # this map's: only an identical definition is safe.
            other = MapInfo.from_fd(fd)
            mine = (self.type, self.key_size, self.value_size, self.max_entries)
            theirs = (other.type, other.key_size, other.value_size, other.max_entries)
            if mine != theirs:
                raise BPFError(errno.EINVAL, f"reuse_fd({fd}) for map {self.name!r}: its "
                               f"definition {theirs} differs from {mine}",
                               call="bpf_map__reuse_fd", target=self.name)
        self._set("bpf_map__reuse_fd", fd)
        self._fd_cache = -1

    @property
    def initial_value(self) -> bytes | None:
        """Contents of a global-data map (before load: the values load() will write)."""
        self._check()
        size = ctypes.c_size_t()
        ptr = lib.bpf_map__initial_value(self._ptr, ctypes.byref(size))
        return ctypes.string_at(ptr, size.value) if ptr else None

    @initial_value.setter
    def initial_value(self, data: bytes) -> None:
        self._set("bpf_map__set_initial_value", data, len(data))

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the map at ``path`` on a BPF filesystem."""
        self._check()
        p = os.fspath(path)
        check_int(lib.bpf_map__pin(self._ptr, os.fsencode(p)), "bpf_map__pin",
                  f"map {self.name!r} at {p}", hint=bpffs_hint(p))

    def unpin(self, path: str | os.PathLike[str] | None = None) -> None:
        """Remove the pin at ``path`` (default: where the map was pinned)."""
        self._check()
        check_int(lib.bpf_map__unpin(self._ptr, None if path is None else
                                     os.fsencode(os.fspath(path))),
                  "bpf_map__unpin", f"map {self.name!r}")

    def _ptr_checked(self) -> int:
        self._check()
        return self._ptr

    # -- libbpf >= 1.5 ------------------------------------------------------------------
    @property
    def autoattach(self) -> bool:
        """Whether :meth:`Object.attach` attaches this (struct_ops) map; settable any
        time.  Requires libbpf >= 1.5."""
        self._check()
        return bool(lib.bpf_map__autoattach(self._ptr))

    @autoattach.setter
    def autoattach(self, value: bool) -> None:
        self._check()
        check_int(lib.bpf_map__set_autoattach(self._ptr, bool(value)),
                  "bpf_map__set_autoattach", f"map {self.name!r}")

    def attach_struct_ops(self) -> Any:
        """Register this struct_ops map's implementation with the kernel (a
        ``tcp_congestion_ops``, a ``sched_ext_ops`` ...) and return the
        :class:`~libbpfpy.Link` that keeps it registered.  For a
        ``SEC(".struct_ops.link")`` map the link can switch implementations
        (:meth:`Link.update_map`).  Requires Linux >= 5.6 (struct_ops links: 6.4)."""
        self._check()
        if self.type != MapType.STRUCT_OPS:
            raise BPFError(errno.EINVAL, f"map {self.name!r} is a {self.type.libbpf_name} "
                           "map, not struct_ops", call="bpf_map__attach_struct_ops",
                           target=self.name)
        if not self._obj.loaded:
            raise BPFError(errno.EINVAL, f"cannot attach struct_ops map {self.name!r}: "
                           "its object is not loaded", call="bpf_map__attach_struct_ops",
                           target=self.name)
        from .link import Link
        ptr = lib.bpf_map__attach_struct_ops(self._ptr)
        if not ptr:
            err = ctypes.get_errno() or errno.EINVAL
            raise error_for(err, f"bpf_map__attach_struct_ops() of map {self.name!r} "
                            f"failed: {os.strerror(err)} [errno {err}]",
                            call="bpf_map__attach_struct_ops", target=self.name)
        link = Link(ptr, description=f"struct_ops map {self.name}")
        self._obj._adopt(link)
        return link

    # -- libbpf >= 1.7 ------------------------------------------------------------------
    @property
    def exclusive_program(self) -> Any:
        """The only program allowed to use this map (the kernel checks the program's
        hash at load), or None; settable before load.  Requires libbpf >= 1.7 and
        Linux >= 6.18."""
        self._check()
        ptr = lib.bpf_map__exclusive_program(self._ptr)
        if not ptr:
            return None
        return next(p for p in self._obj.programs.values() if p._ptr == ptr)

    @exclusive_program.setter
    def exclusive_program(self, program: Any) -> None:
        lib.bpf_map__set_exclusive_program  # noqa: B018 - a libbpf without it says so first
        if program._obj is not self._obj:
            raise ValueError(f"program {program.name!r} is not of map {self.name!r}'s object")
        self._set("bpf_map__set_exclusive_program", program._ptr_checked())


@guarded()
class MapHandle(FdHandle, MapAPI):
    """A map owned through its file descriptor: created here, or opened by pin, id or fd.

    Same API as :class:`Map`; ``close()`` (or ``with``) releases the fd.
    """

    _kind = "map handle"
    # pure Python (the kernel's answer read at open, the owned fd): see MapAPI
    _unguarded_ = frozenset({"type", "key_size", "value_size", "max_entries", "flags",
                             "fd"})

    def __init__(self, fd: int, *, info: MapInfo | None = None) -> None:
        FdHandle.__init__(self, fd, f"map fd {fd}")
        try:
            kind = fd_kind(fd)
            if kind != "map":
                raise BPFError(errno.EINVAL, f"fd {fd} is not a BPF map (it is "
                               f"{'a BPF ' + kind if kind else 'not a BPF object'})",
                               call="bpf_obj_get_info_by_fd")
            self._info = info or MapInfo.from_fd(fd)
        except BaseException:
            self.close()
            raise
        self.name = self._info.name
        self._pin_path: str | None = None

    def _describe(self) -> str:
        return f"map {getattr(self, 'name', '?')!r}"

    __repr__ = MapAPI.__repr__

    @classmethod
    def create(cls, type: MapType | int | str, key_size: int, value_size: int,
               max_entries: int, *, name: str | None = None, flags: int = 0,
               inner_map: MapAPI | int | None = None, map_extra: int = 0,
               numa_node: int | None = None, ifindex: int = 0, btf_fd: int = 0,
               btf_key_type_id: int = 0, btf_value_type_id: int = 0,
               token: Any = None) -> MapHandle:
        """Create a new map (``bpf_map_create``) and own its fd.

        ``token`` (a :class:`~libbpfpy.token.Token`) creates it with the rights a
        delegating bpffs grants, inside a user namespace (libbpf >= 1.4, Linux >= 6.9)."""
        mtype = parse_enum(MapType, type)
        key_size = _args.uint(key_size, "key_size")
        value_size = _args.uint(value_size, "value_size")
        max_entries = _args.uint(max_entries, "max_entries")
        flags = _args.uint(flags, "flags")
        token_fd = 0
        if token is not None:
            token_fd = token.fd
            flags |= CONSTANTS["BPF_F_TOKEN_FD"]
        if isinstance(inner_map, MapAPI):
            inner_fd = inner_map.fd
        else:
            inner_fd = inner_map or 0
        if numa_node is not None:
            flags |= MapFlags.NUMA_NODE
        o = opts("bpf_map_create_opts", btf_fd=btf_fd, btf_key_type_id=btf_key_type_id,
                 btf_value_type_id=btf_value_type_id, inner_map_fd=inner_fd,
                 map_flags=int(flags), map_extra=map_extra, numa_node=numa_node or 0,
                 map_ifindex=ifindex, token_fd=token_fd)
        bname = name.encode() if name else None
        if bname is not None and len(bname) > 15:
            raise ValueError(f"map name {name!r} is longer than 15 bytes")
        fd = lib.bpf_map_create(int(mtype), bname, key_size, value_size, max_entries,
                                ctypes.byref(o))
        if fd < 0:
            err = -fd
            what = f"{mtype.libbpf_name} map {name or ''}".rstrip()
            if err == errno.EINVAL:
                raise BPFError(err, f"bpf_map_create() rejected {what} "
                               f"(key_size={key_size}, value_size={value_size}, "
                               f"max_entries={max_entries}, flags={int(flags):#x}): "
                               "invalid combination for this map type",
                               call="bpf_map_create", target=name)
            check_int(fd, "bpf_map_create", what)
        return cls(fd)

    @classmethod
    def from_pin(cls, path: str | os.PathLike[str]) -> MapHandle:
        """Open the map pinned at ``path``."""
        p = os.fspath(path)
        fd = lib.bpf_obj_get(os.fsencode(p))
        if fd < 0:
            check_int(fd, "bpf_obj_get", p, hint=bpffs_hint(p))
        handle = cls(fd)
        handle._pin_path = p
        return handle

    @classmethod
    def from_id(cls, map_id: int) -> MapHandle:
        """Open the loaded map with kernel id ``map_id``."""
        return cls(fd_by_id("map", map_id))

    @classmethod
    def from_fd(cls, fd: int) -> MapHandle:
        """Own a duplicate of ``fd`` (the caller keeps its own fd)."""
        new = dup_fd(fd)
        try:
            return cls(new)
        except BPFError as exc:
            # name the caller's fd, not our duplicate
            raise BPFError(exc.errno or errno.EINVAL,
                           exc.message.replace(f"fd {new} ", f"fd {fd} ", 1),
                           call=exc.call) from None

    @property
    def type(self) -> MapType:
        """The map type."""
        return self._info.type

    @property
    def key_size(self) -> int:
        """Key size in bytes."""
        return self._info.key_size

    @property
    def value_size(self) -> int:
        """Value size in bytes (per CPU for per-CPU maps)."""
        return self._info.value_size

    @property
    def max_entries(self) -> int:
        """Capacity."""
        return self._info.max_entries

    @property
    def flags(self) -> MapFlags:
        """Creation flags."""
        return MapFlags(self._info.flags)

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the map at ``path`` on a BPF filesystem (it then outlives this fd)."""
        super().pin(path)
        self._pin_path = os.fspath(path)

    @property
    def pin_path(self) -> str | None:
        """Where this handle pinned the map, or opened it from (None otherwise)."""
        return self._pin_path

    def unpin(self, path: str | os.PathLike[str] | None = None) -> None:
        """Remove the pin at ``path`` (default: where this handle pinned or opened
        the map).  The map lives on while anything holds it."""
        self._check()
        target = os.fspath(path) if path is not None else self._pin_path
        if target is None:
            raise ValueError(f"map {self.name!r} was not pinned through this handle: "
                             "give the pin's path")
        try:
            os.unlink(target)
        except OSError as exc:
            raise BPFError(exc.errno or errno.EINVAL, f"unpin {target}: {exc.strerror}",
                           call="unlink", target=target) from None
        if target == self._pin_path:
            self._pin_path = None

    def __getstate__(self) -> Any:
        raise TypeError("a MapHandle owns a file descriptor and cannot be pickled")
