"""Event types of ring and perf buffers: ctypes types, BTF names, numpy dtypes, decoding.

An ``event_type`` is a ctypes type (a ``Structure``, ``Union``, array or scalar) or
the name of a struct/union in the BTF of the object that owns the map.  Records are
decoded into *new* instances (``from_buffer_copy``), so an event never refers to
memory the kernel may reuse.
"""
from __future__ import annotations

import ctypes
import itertools
from collections.abc import Sequence
from typing import Any

__all__ = ["resolve_event_type", "numpy_dtype", "Decoder"]


def resolve_event_type(event_type: Any, map: Any) -> Any:
    """The ctypes type for ``event_type`` (None, a ctypes type or a BTF type name)."""
    if event_type is None:
        return None
    if isinstance(event_type, str):
        return _from_btf(event_type, map)
    if not (isinstance(event_type, type) and hasattr(event_type, "from_buffer_copy")):
        raise TypeError("event_type must be a ctypes type or the name of a type in the "
                        f"object's BTF, not {event_type!r}")
    if ctypes.sizeof(event_type) == 0:
        raise ValueError(f"event_type {event_type.__name__} has size 0")
    return event_type


def _from_btf(name: str, map: Any) -> Any:
    obj = getattr(map, "object", None)
    btf = obj.btf if obj is not None else None
    if btf is None:
        where = f"map {getattr(map, 'name', '?')!r}"
        raise ValueError(f"event_type={name!r} names a BTF type, but {where} has no object "
                         "with BTF (compile with -g, or pass a ctypes type)")
    return btf.ctypes_type(name)


# -- numpy dtypes -----------------------------------------------------------------------

def numpy_dtype(ctype: Any, map: Any = None, name: str | None = None) -> Any:
    """The numpy dtype with the layout of ``ctype`` (``char[N]`` becomes ``S{N}``)."""
    import numpy as np
    if name is not None and map is not None:
        obj = getattr(map, "object", None)
        btf = obj.btf if obj is not None else None
        builder = getattr(btf, "numpy_dtype", None) if btf is not None else None
        if builder is not None:
            return np.dtype(builder(name))
    return np.dtype(_dtype_spec(ctype))


def _dtype_spec(ctype: Any) -> Any:
    import numpy as np
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        elem: Any = ctype._type_
        if elem is ctypes.c_char:
            return f"S{ctype._length_}"
        return (np.dtype(_dtype_spec(elem)), (ctype._length_,))
    if isinstance(ctype, type) and issubclass(ctype, (ctypes.Structure, ctypes.Union)):
        names, formats, offsets = [], [], []
        for field in ctype._fields_:
            if len(field) > 2:
                raise TypeError(f"{ctype.__name__}.{field[0]} is a bitfield: numpy has "
                                "no bitfields")
            fname, ftype = field[0], field[1]
            names.append(fname)
            formats.append(_dtype_spec(ftype))
            offsets.append(getattr(ctype, fname).offset)
        return {"names": names, "formats": formats, "offsets": offsets,
                "itemsize": ctypes.sizeof(ctype)}
    if ctype is ctypes.c_char:
        return "S1"
    if ctype is ctypes.c_bool:
        return "?"
    return np.dtype(ctype).newbyteorder("=")


# -- decoding batches of records into events ---------------------------------------------

class ShortRecord:
    """Placeholder for a record too short for the event type (raises on delivery)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class Decoder:
    """Turns copied records into events: ``bytes``, or new instances of a ctypes type.

    Each method returns ``(events, short)``; ``short`` says that some records were
    shorter than the type and stand as :class:`ShortRecord` placeholders.
    """

    def __init__(self, ctype: Any) -> None:
        self.ctype = ctype
        self.size = ctypes.sizeof(ctype) if ctype is not None else 0
        self.name = ctype.__name__ if ctype is not None else "bytes"

    def from_buffer(self, buf: bytes, offs: Sequence[int],
                    lens: int | list[int]) -> tuple[list[Any], bool]:
        """Decode the records at ``offs`` (of length ``lens``) of the copy ``buf``."""
        ctype = self.ctype
        n = len(offs)
        if isinstance(lens, int):
            if ctype is None:
                return [buf[o:o + lens] for o in offs], False
            if lens >= self.size:
                # One C-level loop; each event gets memory of its own.
                return list(map(ctype.from_buffer_copy, itertools.repeat(buf, n), offs)), False
            return [ShortRecord(lens)] * n, True
        if ctype is None:
            return [buf[o:o + k] for o, k in zip(offs, lens, strict=True)], False
        size = self.size
        if min(lens, default=size) >= size:
            return list(map(ctype.from_buffer_copy, itertools.repeat(buf, n), offs)), False
        return [ctype.from_buffer_copy(buf, o) if k >= size else ShortRecord(k)
                for o, k in zip(offs, lens, strict=True)], True

    def from_items(self, items: list[bytes]) -> tuple[list[Any], bool]:
        """Decode records that are separate ``bytes`` objects."""
        ctype = self.ctype
        if ctype is None:
            return items, False
        size = self.size
        if all(len(b) >= size for b in items):
            return list(map(ctype.from_buffer_copy, items)), False
        return [ctype.from_buffer_copy(b) if len(b) >= size else ShortRecord(len(b))
                for b in items], True

    def short_error(self, rec: ShortRecord) -> ValueError:
        """The error for a record too short for the event type."""
        return ValueError(f"a record of {rec.size} bytes is shorter than event_type "
                          f"{self.name} ({self.size} bytes); it was skipped")

