"""Converting Python values to and from the bytes of map keys, values and events.

A codec has a ``size`` (bytes), ``encode(value) -> bytes`` of exactly that size and
``decode(bytes) -> value``.  :class:`RawCodec` is the untyped one: it accepts ints,
bytes-like objects of the exact size and ctypes instances, and returns ints for
1/2/4/8-byte data and ``bytes`` otherwise.  Typed codecs built from BTF live in
:mod:`libbpfpy.btf` and are chosen by :func:`for_map`.
"""
from __future__ import annotations

import ctypes
import sys
from typing import Any, Protocol

__all__ = ["Codec", "RawCodec", "CtypesCodec", "for_map", "to_bytes", "is_ctypes_instance"]

_INT_SIZES = (1, 2, 4, 8)


class Codec(Protocol):
    """Converts between Python values and the bytes of one key, value or event."""

    size: int

    def encode(self, value: Any) -> bytes:
        """The ``size`` bytes for ``value`` (TypeError/ValueError if it cannot be)."""
        ...

    def decode(self, data: bytes) -> Any:
        """The Python value of ``size`` bytes."""
        ...


def is_ctypes_instance(value: Any) -> bool:
    """Whether ``value`` is a ctypes scalar, structure, union or array."""
    return isinstance(value, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union,
                              ctypes.Array))


def to_bytes(value: Any, size: int, what: str) -> bytes:
    """The bytes of ``value`` for a slot of ``size`` bytes, or a clear error."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif is_ctypes_instance(value):
        data = ctypes.string_at(ctypes.addressof(value), ctypes.sizeof(value))
    elif isinstance(value, int):
        try:
            return value.to_bytes(size, sys.byteorder, signed=value < 0)
        except OverflowError:
            raise ValueError(f"{what}: {value} does not fit in {size} bytes") from None
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
