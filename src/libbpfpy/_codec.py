"""Converting Python values to and from the bytes of map keys, values and events.

A codec has a ``size`` (bytes), ``encode(value) -> bytes`` of exactly that size and
``decode(bytes) -> value``.  :class:`RawCodec` is the untyped one: it accepts ints,
bytes-like objects of the exact size and ctypes instances, and returns ints for
1/2/4/8-byte data and ``bytes`` otherwise.  Typed codecs built from BTF live in
:mod:`libbpfpy.btf` and are chosen by :func:`for_map`.

Bulk reads (a batch of map elements) decode many values at once with
:func:`decode_many`: a codec may provide ``decode_many(buf, n, stride)`` doing it in
C-level loops (``memoryview.cast(...).tolist()`` for scalars, ``map`` over
``from_buffer_copy`` for records); otherwise ``decode`` is called per value.
"""
from __future__ import annotations

import ctypes
import itertools
import struct
import sys
from typing import Any, Protocol

__all__ = ["Codec", "RawCodec", "CtypesCodec", "for_map", "to_bytes", "is_ctypes_instance",
           "decode_many", "encode_many", "encodes_ints", "scalars", "pack_ints"]

_INT_SIZES = (1, 2, 4, 8)
# memoryview/struct format of an integer by (size, signed)
INT_FORMATS = {(1, False): "B", (2, False): "H", (4, False): "I", (8, False): "Q",
               (1, True): "b", (2, True): "h", (4, True): "i", (8, True): "q"}


class Codec(Protocol):
    """Converts between Python values and the bytes of one key, value or event."""

    size: int

    def encode(self, value: Any) -> bytes:
        """The ``size`` bytes for ``value`` (TypeError/ValueError if it cannot be)."""
        ...

    def decode(self, data: bytes) -> Any:
        """The Python value of ``size`` bytes."""
        ...


def scalars(buf: Any, n: int, size: int, stride: int, fmt: str) -> list[Any]:
    """``n`` scalars of memoryview format ``fmt`` (``size`` bytes) spaced ``stride``
    bytes apart in ``buf``, as a list, in one C-level pass."""
    if n <= 0:
        return []
    mv: Any = memoryview(buf)
    if mv.format not in ("B", "b", "c"):
        mv = mv.cast("B")
    if stride == size:
        return mv[:n * size].cast(fmt).tolist()  # type: ignore[no-any-return]
    if stride % size == 0:
        return mv[:n * stride].cast(fmt)[::stride // size].tolist()  # type: ignore[no-any-return]
    return [v for (v,) in struct.iter_unpack(f"={fmt}{stride - size}x",
                                             bytes(mv[:n * stride]))]


def decode_many(codec: Any, buf: Any, n: int, stride: int = 0) -> list[Any]:
    """Decode ``n`` values of ``codec.size`` bytes spaced ``stride`` bytes apart
    (default: packed) in ``buf``: the list ``[codec.decode(...) for each]``."""
    size = codec.size
    stride = stride or size
    bulk = getattr(codec, "decode_many", None)
    if bulk is not None:
        return bulk(buf, n, stride)  # type: ignore[no-any-return]
    raw = bytes(memoryview(buf).cast("B")[:n * stride]) if n else b""
    dec = codec.decode
    return [dec(raw[o:o + size]) for o in range(0, n * stride, stride)]


def encodes_ints(codec: Any) -> bool:
    """Whether ``codec`` encodes an int as ``int.to_bytes(size, native order,
    signed=value < 0)``: the untyped codec, and BTF's for integers and enums."""
    return type(codec) is RawCodec or bool(getattr(codec, "plain_ints", False))


def encode_many(codec: Any, values: list[Any]) -> bytes:
    """The concatenated encodings of ``values`` (TypeError/ValueError as ``encode``)."""
    bulk = getattr(codec, "encode_many", None)
    if bulk is not None:
        return bulk(values)  # type: ignore[no-any-return]
    return b"".join([codec.encode(v) for v in values])


def pack_ints(codec: Any, values: list[Any], fmt: str) -> bytes:
    """Ints packed in one C-level call; anything else (negative values in unsigned
    slots, bytes, ctypes values) through ``codec.encode`` one at a time."""
    try:
        return struct.pack(f"={len(values)}{fmt}", *values)
    except struct.error:
        return b"".join([codec.encode(v) for v in values])


def is_ctypes_instance(value: Any) -> bool:
    """Whether ``value`` is a ctypes scalar, structure, union or array."""
    return isinstance(value, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union,
                              ctypes.Array))


def to_bytes(value: Any, size: int, what: str) -> bytes:
    """The bytes of ``value`` for a slot of ``size`` bytes, or a clear error."""
    if isinstance(value, int):
        try:
            return value.to_bytes(size, sys.byteorder, signed=value < 0)
        except OverflowError:
            raise ValueError(f"{what}: {value} does not fit in {size} bytes") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif is_ctypes_instance(value):
        data = ctypes.string_at(ctypes.addressof(value), ctypes.sizeof(value))
    else:
        raise TypeError(f"{what}: expected int, bytes of {size} bytes or a ctypes value, "
                        f"got {type(value).__name__}")
    if len(data) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(data)}")
    return data


class RawCodec:
    """Untyped data: ints for 1/2/4/8-byte slots, bytes otherwise."""

    def __init__(self, size: int, what: str = "value") -> None:
        self.size = size
        self.what = what

    def encode(self, value: Any) -> bytes:
        """int, bytes of the exact size or a ctypes value -> bytes."""
        return to_bytes(value, self.size, self.what)

    def decode(self, data: bytes) -> Any:
        """bytes -> int for 1/2/4/8-byte slots (native order, unsigned), else bytes."""
        if self.size in _INT_SIZES:
            return int.from_bytes(data, sys.byteorder)
        return bytes(data)

    def encode_many(self, values: list[Any]) -> bytes:
        """The concatenated encodings of ``values``."""
        if self.size in _INT_SIZES:
            return pack_ints(self, values, INT_FORMATS[self.size, False])
        return b"".join([self.encode(v) for v in values])

    def decode_many(self, buf: Any, n: int, stride: int) -> list[Any]:
        """``n`` values spaced ``stride`` bytes apart (see :func:`decode_many`)."""
        size = self.size
        if size in _INT_SIZES:
            return scalars(buf, n, size, stride, INT_FORMATS[size, False])
        raw = bytes(memoryview(buf).cast("B")[:n * stride]) if n else b""
        return [raw[o:o + size] for o in range(0, n * stride, stride)]


class CtypesCodec:
    """Data typed by a ctypes type: decodes to a new instance of it."""

    def __init__(self, ctype: Any, what: str = "value") -> None:
        self.ctype = ctype
        self.size = ctypes.sizeof(ctype)
        self.what = what

    def encode(self, value: Any) -> bytes:
        """An instance of the type, an int for scalar types, or raw bytes -> bytes."""
        if isinstance(value, self.ctype):
            return ctypes.string_at(ctypes.addressof(value), self.size)
        if isinstance(value, int) and issubclass(self.ctype, ctypes._SimpleCData):
            inst = self.ctype(value)
            return ctypes.string_at(ctypes.addressof(inst), self.size)
        return to_bytes(value, self.size, self.what)

    def decode(self, data: bytes) -> Any:
        """bytes -> a new instance of the type (its value for scalar types)."""
        obj = self.ctype.from_buffer_copy(data)
        if isinstance(obj, ctypes._SimpleCData):
            return obj.value
        return obj

    def decode_many(self, buf: Any, n: int, stride: int) -> list[Any]:
        """``n`` values spaced ``stride`` bytes apart (see :func:`decode_many`)."""
        raw = bytes(memoryview(buf).cast("B")[:n * stride]) if n else b""
        objs = list(map(self.ctype.from_buffer_copy, itertools.repeat(raw, n),
                        range(0, n * stride, stride)))
        if issubclass(self.ctype, ctypes._SimpleCData):
            return [o.value for o in objs]
        return objs


def for_map(m: Any, which: str, size: int) -> Codec:
    """The codec for a map's ``key`` or ``value``: typed from BTF where possible."""
    try:
        from . import btf as _btf
        typed = getattr(_btf, "map_codec", None)
        if typed is not None:
            codec = typed(m, which, size)
            if codec is not None:
                return codec  # type: ignore[no-any-return]
    except ImportError:
        pass
    return RawCodec(size, which)
