"""Python types from BTF: ctypes classes, numpy dtypes, IntEnums and value codecs.

Records (structs, unions and DATASECs) are laid out from BTF's member offsets, never
by ctypes' own rules: every class is ``_pack_ = 1`` with explicit padding fields, and
bitfields are properties over private storage fields covering their bytes.  After
building, ``ctypes.sizeof`` and every field offset are checked against the plan.
"""
from __future__ import annotations

import ctypes
import enum
import functools
import struct
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ._codec import to_bytes
from .errors import FormatError

if TYPE_CHECKING:
    from .btf import BTF, BTFType

__all__ = ["Struct", "Union", "TypeBuilder", "python_value"]

_BYTEORDER = sys.byteorder
_BIG = _BYTEORDER == "big"

_INT_CTYPES = {
    (1, True): ctypes.c_int8, (1, False): ctypes.c_uint8,
    (2, True): ctypes.c_int16, (2, False): ctypes.c_uint16,
    (4, True): ctypes.c_int32, (4, False): ctypes.c_uint32,
    (8, True): ctypes.c_int64, (8, False): ctypes.c_uint64,
}
_STORAGE = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}


# -- record base classes --------------------------------------------------------------

def _bitfield_property(storage: str, shift: int, nbits: int, signed: bool,
                       nbytes: int, name: str) -> property:
    if _BIG:
        shift = nbytes * 8 - shift - nbits
    mask = (1 << nbits) - 1
    sign = 1 << (nbits - 1)
    lo = -sign if signed else -(1 << (nbits - 1))
    hi = mask

    def get(self: Any) -> int:
        raw = getattr(self, storage)
        if not isinstance(raw, int):
            raw = int.from_bytes(bytes(raw), _BYTEORDER)
        v = (raw >> shift) & mask
        if signed and v & sign:
            v -= 1 << nbits
        return v

    def set(self: Any, value: int) -> None:
        value = int(value)
        if not lo <= value <= hi:
            raise ValueError(f"{type(self).__name__}.{name}: {value} does not fit in a "
                             f"{'signed' if signed else 'unsigned'} {nbits}-bit field")
        raw = getattr(self, storage)
        as_int = isinstance(raw, int)
        cur = raw if as_int else int.from_bytes(bytes(raw), _BYTEORDER)
        cur = (cur & ~(mask << shift)) | ((value & mask) << shift)
        if as_int:
            object.__setattr__(self, storage, cur)
        else:
            ctypes.memmove(ctypes.addressof(raw), cur.to_bytes(nbytes, _BYTEORDER), nbytes)

    return property(get, set, doc=f"{'signed' if signed else 'unsigned'} {nbits}-bit "
                                  "bitfield")


def _forward_property(anon: str, name: str) -> property:
    def get(self: Any) -> Any:
        return getattr(getattr(self, anon), name)

    def set(self: Any, value: Any) -> None:
        setattr(getattr(self, anon), name, value)

    return property(get, set)


def python_value(value: Any, enum_cls: type[enum.IntEnum] | None = None) -> Any:
    """A ctypes field value as plain Python: arrays become lists, enums IntEnums."""
    if isinstance(value, ctypes.Array):
        if issubclass(value._type_, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union)):
            return value[:]   # a C-level loop: big arrays decode at C speed
        return [python_value(v) for v in value]
    if enum_cls is not None and isinstance(value, int):
        return enum_cls._value2member_map_.get(value, value)
    return value


class _Record:
    """Behaviour shared by :class:`Struct` and :class:`Union`."""

    #: (name, kind) of each member in declaration order: kind "f" (field),
    #: "b" (bitfield property) or "a" (anonymous record field, flattened).
    _btf_members_: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: bitfield name -> (storage field, bit offset in storage, bits, signed)
    _btf_bitfields_: ClassVar[dict[str, tuple[str, int, int, bool]]] = {}
    #: member name -> IntEnum class, for members of enum type
    _btf_enums_: ClassVar[dict[str, type[enum.IntEnum]]] = {}
    #: the C name of the type (``struct foo``)
    _btf_cname_: ClassVar[str] = ""
    _btf_names_cache: ClassVar[frozenset[str] | None] = None
    _btf_conv_cache: ClassVar[dict[str, Any] | None] = None
    _btf_forwarded_: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        d = cls.__dict__
        fields = dict((f[0], f[1]) for f in d.get("_fields_", ()))
        forwarded: set[str] = set()
        for bname, (storage, shift, nbits, signed) in d.get("_btf_bitfields_", {}).items():
            nbytes = ctypes.sizeof(fields[storage])
            setattr(cls, bname, _bitfield_property(storage, shift, nbits, signed, nbytes,
                                                   bname))
            forwarded.add(bname)
        for anon in d.get("_anonymous_", ()):
            inner = fields.get(anon)
            for name in getattr(inner, "_btf_forwarded_", ()):
                setattr(cls, name, _forward_property(anon, name))
                forwarded.add(name)
        cls._btf_forwarded_ = frozenset(forwarded)
        cls._btf_names_cache = None
        cls._btf_conv_cache = None

    # -- names and conversion -------------------------------------------------------
    @classmethod
    def _btf_names(cls) -> frozenset[str]:
        names = cls._btf_names_cache
        if names is None:
            out: set[str] = set()
            fields = dict((f[0], f[1]) for f in getattr(cls, "_fields_", ()))
            for name, kind in cls._btf_members_:
                if kind == "a":
                    out.add(name)
                    out |= fields[name]._btf_names()
                else:
                    out.add(name)
            names = cls._btf_names_cache = frozenset(out)
        return names

    @classmethod
    def _btf_conv(cls) -> dict[str, Any]:
        conv = cls._btf_conv_cache
        if conv is None:
            conv = {}
            for f in getattr(cls, "_fields_", ()):
                name, ct = f[0], f[1]
                c = _converter(ct)
                if c is not None:
                    conv[name] = c
                if name in getattr(cls, "_anonymous_", ()):
                    conv.update(ct._btf_conv())
            cls._btf_conv_cache = conv
        return conv

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        members = self._btf_members_
        if len(args) > len(members):
            raise TypeError(f"{type(self).__name__} takes at most {len(members)} "
                            f"positional values ({len(args)} given)")
        for (name, _kind), value in zip(members, args, strict=False):
            setattr(self, name, value)
        if kwargs:
            names = self._btf_names()
            for name, value in kwargs.items():
                if name not in names:
                    raise TypeError(f"{type(self).__name__} has no member {name!r}")
                setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        conv = self._btf_conv().get(name)
        if conv is not None:
            value = conv(value)
            if type(value) is _Chars:
                # ctypes stops copying char arrays at the first NUL: copy it all.
                field = getattr(type(self), name)
                ctypes.memmove(ctypes.addressof(self) + field.offset,  # type: ignore[arg-type]
                               value, field.size)
                return
        super().__setattr__(name, value)

    # -- reading --------------------------------------------------------------------
    def _btf_items(self) -> Iterator[tuple[str, Any]]:
        enums = self._btf_enums_
        for name, kind in self._btf_members_:
            value = getattr(self, name)
            if kind == "a":
                yield from value._btf_items()
            else:
                yield name, python_value(value, enums.get(name))

    def to_dict(self, *, text: bool = False) -> dict[str, Any]:
        """Members by name as plain Python values (nested records as dicts, arrays as
        lists, anonymous members flattened).  ``char`` arrays are ``bytes``, or with
        ``text=True`` ``str`` as :meth:`as_str` decodes them (ready for JSON)."""
        out = {}
        for name, value in self._btf_items():
            out[name] = _plain(value, text)
        return out

    def as_str(self, name: str, encoding: str = "utf-8",
               errors: str = "surrogateescape") -> str:
        """The ``char`` array member ``name`` as text, up to its first NUL, as C
        reads a string (``ev.as_str("comm")`` -> ``"python3"``).

        The member itself stays ``bytes`` (``ev.comm``).  The default ``errors``
        loses nothing: bytes that are not UTF-8 become lone surrogates, which
        ``s.encode("utf-8", "surrogateescape")`` (or ``os.fsencode``) turns back
        into the same bytes.  ``errors="replace"`` gives printable text instead."""
        value = getattr(self, name)
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"{type(self).__name__}.{name} is not a char array "
                            f"(it holds {type(value).__name__})")
        return bytes(value).split(b"\0", 1)[0].decode(encoding, errors)

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={v!r}" for n, v in self._btf_items())
        return f"{type(self).__name__}({body})"

    def __bytes__(self) -> bytes:
        return ctypes.string_at(ctypes.addressof(self),  # type: ignore[arg-type]
                                ctypes.sizeof(self))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            return bytes(self) == bytes(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _plain(value: Any, text: bool = False) -> Any:
    if isinstance(value, _Record):
        return value.to_dict(text=text)
    if isinstance(value, list):
        return [_plain(v, text) for v in value]
    if text and isinstance(value, bytes):       # only char arrays decode to bytes
        return value.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return value


class Struct(_Record, ctypes.Structure):
    """Base class of structs built from BTF (and of skeletons' generated types)."""


class Union(_Record, ctypes.Union):
    """Base class of unions built from BTF (and of skeletons' generated types)."""


# -- converters: plain Python values into ctypes fields -------------------------------

def _is_char_array(ct: Any) -> bool:
    return (isinstance(ct, type) and issubclass(ct, ctypes.Array)
            and getattr(ct, "_type_", None) is ctypes.c_char)


def _converter(ct: Any) -> Any:
    """A function turning plain values into something ctypes accepts for ``ct``, or
    None when ctypes' own conversion is enough."""
    if not isinstance(ct, type):
        return None
    if issubclass(ct, _Record):
        return functools.partial(_to_record, ct)
    if _is_char_array(ct):
        return functools.partial(_to_chars, ct)
    if issubclass(ct, ctypes.Array):
        return functools.partial(_to_array, ct, _converter(ct._type_))
    return None


def _to_record(ct: Any, value: Any) -> Any:
    if isinstance(value, ct):
        return value
    if isinstance(value, dict):
        return ct(**value)
    if isinstance(value, (tuple, list)):
        return ct(*value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) != ctypes.sizeof(ct):
            raise ValueError(f"{ct.__name__} is {ctypes.sizeof(ct)} bytes, got {len(data)}")
        return ct.from_buffer_copy(data)
    raise TypeError(f"{ct.__name__}: expected a dict, tuple, {ct.__name__} or bytes, "
                    f"got {type(value).__name__}")


class _Chars(bytes):
    """The full contents of a char array (copied as is, NULs included)."""


def _to_chars(ct: Any, value: Any) -> Any:
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) > ct._length_:
            raise ValueError(f"{len(data)} bytes do not fit in char[{ct._length_}]")
        return _Chars(data.ljust(ct._length_, b"\0"))
    if isinstance(value, ct):
        return _Chars(value.raw)
    raise TypeError(f"char[{ct._length_}]: expected str or bytes, got "
                    f"{type(value).__name__}")


def _to_array(ct: Any, elem_conv: Any, value: Any) -> Any:
    if isinstance(value, ct):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) != ctypes.sizeof(ct):
            raise ValueError(f"array of {ctypes.sizeof(ct)} bytes, got {len(data)}")
        return ct.from_buffer_copy(data)
    values = list(value)
    if len(values) > ct._length_:
        raise ValueError(f"{len(values)} values do not fit in an array of {ct._length_}")
    arr = ct()
    esize = ctypes.sizeof(ct._type_)
    for i, v in enumerate(values):
        if elem_conv is not None:
            v = elem_conv(v)
            if type(v) is _Chars:
                ctypes.memmove(ctypes.addressof(arr) + i * esize, v, esize)
                continue
        arr[i] = v
    return arr


# -- codecs ---------------------------------------------------------------------------

class IntCodec:
    """Integers of 1, 2, 4 or 8 bytes (decoded with the type's signedness)."""

    def __init__(self, size: int, signed: bool, what: str = "value") -> None:
        self.size = size
        self.signed = signed
        self.what = what
        self.decode = functools.partial(int.from_bytes, byteorder=_BYTEORDER,
                                        signed=signed)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, int):
            try:
                return value.to_bytes(self.size, _BYTEORDER, signed=value < 0)
            except OverflowError:
                raise ValueError(f"{self.what}: {value} does not fit in "
                                 f"{self.size} bytes") from None
        return to_bytes(value, self.size, self.what)


class EnumCodec(IntCodec):
    """Enums: decoded to members of their IntEnum (plain int for unknown values)."""

    def __init__(self, size: int, signed: bool, cls: type[enum.IntEnum]) -> None:
        super().__init__(size, signed)
        members = cls._value2member_map_
        raw = self.decode

        def decode(data: bytes) -> Any:
            v = raw(data)
            return members.get(v, v)

        self.decode = decode  # type: ignore[assignment]
        self.enum = cls

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            try:
                value = self.enum[value]
            except KeyError:
                raise ValueError(f"{self.enum.__name__} has no member {value!r}") from None
        return super().encode(value)


class BoolCodec:
    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bool, int)):
            return int(bool(value)).to_bytes(self.size, _BYTEORDER)
        return to_bytes(value, self.size, "value")

    def decode(self, data: bytes) -> bool:
        return any(data)


class FloatCodec:
    def __init__(self, size: int) -> None:
        self.size = size
        self._fmt = struct.Struct({4: "=f", 8: "=d"}[size])

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (int, float)):
            return self._fmt.pack(value)
        return to_bytes(value, self.size, "value")

    def decode(self, data: bytes) -> float:
        return float(self._fmt.unpack(data)[0])


class CharsCodec:
    """``char[N]``: str or bytes in (zero padded), bytes up to the first NUL out."""

    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            if len(data) > self.size:
                raise ValueError(f"{len(data)} bytes do not fit in char[{self.size}]")
            return data.ljust(self.size, b"\0")
        return to_bytes(value, self.size, "value")

    def decode(self, data: bytes) -> bytes:
        return bytes(data).split(b"\0", 1)[0]


class CtypeCodec:
    """Records and arrays: through their ctypes type."""

    def __init__(self, ct: Any, enum_cls: type[enum.IntEnum] | None = None) -> None:
        self.ct = ct
        self.size = ctypes.sizeof(ct)
        self._conv = _converter(ct)
        self._is_array = issubclass(ct, ctypes.Array)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == self.size:
            return bytes(value)
        obj = self._conv(value) if self._conv is not None else value
        if not isinstance(obj, self.ct):
            raise TypeError(f"expected {self.ct.__name__}, got {type(value).__name__}")
        return ctypes.string_at(ctypes.addressof(obj), self.size)

    def decode(self, data: bytes) -> Any:
        obj = self.ct.from_buffer_copy(data)
        if self._is_array:
            return python_value(obj)
        return obj


# -- the builder -------------------------------------------------------------------------

class _Bits:
    __slots__ = ("start", "end", "members")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.members: list[tuple[str, int, int, bool, int, int]] = []


class TypeBuilder:
    """Builds (and caches) the Python types of one BTF."""

    def __init__(self, btf: BTF) -> None:
        from .btf import Kind
        self.btf = btf
        self.K = Kind
        self._ct: dict[int, Any] = {}
        self._dt: dict[int, Any] = {}
        self._enums: dict[int, type[enum.IntEnum]] = {}
        self._codecs: dict[int, Any] = {}
        self._typedef_names: dict[int, str] | None = None
        self._class_names: set[str] = set()
        #: record type ids in the order their classes were built (dependencies first)
        self.order: list[int] = []
        self._ptr_ct = ctypes.c_uint64 if btf.pointer_size == 8 else ctypes.c_uint32

    def seed(self, types: dict[int, Any], enums: dict[int, type[enum.IntEnum]]) -> None:
        """Use existing classes (a generated skeleton's) for these type ids, after
        checking that they match this BTF."""
        K = self.K
        for tid, cls in types.items():
            t = self.btf[tid]
            if t.kind not in (K.STRUCT, K.UNION) or ctypes.sizeof(cls) != t.size or \
                    cls._btf_cname_ != self.btf.type_name(t):
                raise ValueError(f"class {cls.__name__} does not match BTF type [{tid}] "
                                 f"({self.btf.type_name(t)}): regenerate the skeleton")
            self._ct[tid] = cls
        for tid, ecls in enums.items():
            t = self.btf[tid]
            if t.kind not in (K.ENUM, K.ENUM64) or \
                    {m.name: int(m) for m in ecls} != {v.name: v.value for v in t.values
                                                      if v.name in ecls.__members__}:
                raise ValueError(f"enum {ecls.__name__} does not match BTF type [{tid}]: "
                                 "regenerate the skeleton")
            self._enums[tid] = ecls

    # -- helpers ---------------------------------------------------------------------------
    def _resolve(self, tid: int) -> BTFType:
        return self.btf.resolve(tid)

    def _name_of(self, t: BTFType) -> str:
        if t.name:
            return t.name
        if self._typedef_names is None:
            names: dict[int, str] = {}
            for td in self.btf.types(self.K.TYPEDEF):
                names.setdefault(td.type_id, td.name)
            self._typedef_names = names
        named = self._typedef_names.get(t.id)
        if named:
            return named
        return f"anon_{t.kind.name.lower()}_{t.id}"

    def class_name(self, t: BTFType) -> str:
        """The Python class name for a record or enum type."""
        base = _identifier(self._name_of(t))
        if t.kind == self.K.DATASEC:
            base = "datasec_" + _identifier(t.name.lstrip("."))
        return base

    def _is_char(self, t: BTFType) -> bool:
        return (t.kind == self.K.INT and t.size == 1 and
                (t.name == "char" or bool(t.encoding & 2)))

    def _int_ctype(self, size: int, signed: bool) -> Any:
        ct = _INT_CTYPES.get((size, signed))
        return ct if ct is not None else ctypes.c_uint8 * size

    def _member_enum(self, tid: int) -> type[enum.IntEnum] | None:
        t = self._resolve(tid)
        if t.kind in (self.K.ENUM, self.K.ENUM64):
            return self.enum(t.id)
        return None

    # -- ctypes --------------------------------------------------------------------------
    def ctype(self, tid: int) -> Any:
        ct = self._ct.get(tid)
        if ct is not None:
            return ct
        K = self.K
        t = self.btf[tid]
        k = t.kind
        if k in (K.TYPEDEF, K.CONST, K.VOLATILE, K.RESTRICT, K.TYPE_TAG, K.VAR):
            ct = self.ctype(t.type_id)
        elif k == K.INT:
            if t.encoding & 4 and t.size == 1:
                ct = ctypes.c_bool
            else:
                ct = self._int_ctype(t.size, t.signed)
        elif k == K.PTR:
            ct = self._ptr_ct
        elif k == K.ARRAY:
            elem = self._resolve(t.type_id)
            ect = ctypes.c_char if self._is_char(elem) else self.ctype(t.type_id)
            ct = ect * t.nelems
        elif k in (K.STRUCT, K.UNION, K.DATASEC):
            ct = self._record(t)
        elif k in (K.ENUM, K.ENUM64):
            ct = self._int_ctype(t.size, t.signed)
        elif k == K.FLOAT:
            ct = {4: ctypes.c_float, 8: ctypes.c_double}.get(t.size) or ctypes.c_uint8 * t.size
        elif k == K.FWD:
            raise TypeError(f"{self.btf.type_name(t)} is only declared in "
                            f"{self.btf._describe()} (incomplete type): it has no layout")
        else:
            raise TypeError(f"BTF type [{tid}] ({self.btf.type_name(t)}, {k.name}) has "
                            "no data layout")
        self._ct[tid] = ct
        return ct

    def _members(self, t: BTFType) -> list[tuple[str, int, int, int]]:
        """(name, type id, bit offset, bitfield bits) of a record's members, in
        declaration order."""
        K = self.K
        if t.kind == K.DATASEC:
            out = []
            for vi in sorted(t.vars, key=lambda v: v.offset):
                var = self.btf[vi.type_id]
                if var.kind != K.VAR:
                    continue
                out.append((var.name, var.type_id, vi.offset * 8, 0))
            return out
        out = []
        for m in t.members:
            bits = m.bitfield_size
            bit_off = m.bit_offset
            if not bits and not t.kflag:
                # Old-style BTF: bitfields are INTs whose encoding carries bits/offset.
                it = self._resolve(m.type_id)
                if it.kind == K.INT and (it.bits != it.size * 8 or it.bit_offset):
                    bits = it.bits
                    bit_off += it.bit_offset
                elif bit_off % 8 and it.kind in (K.INT, K.ENUM, K.ENUM64):
                    bits = it.bits if it.kind == K.INT else it.size * 8
            out.append((m.name, m.type_id, bit_off, bits))
        return out

    def plan(self, t: BTFType) -> tuple[list[Any], int]:
        """The layout of a record: entries ("field", name, tid, off) /
        ("anon", name, tid, off) / ("bits", _Bits) / ("pad", None, nbytes, off), and
        its size."""
        K = self.K
        is_union = t.kind == K.UNION
        members = [(*m, i) for i, m in enumerate(self._members(t))]
        size = t.size
        if t.kind == K.DATASEC and not size:
            size = max((m[2] // 8 + self.btf.size_of(m[1]) for m in members), default=0)
        entries: list[Any] = []
        if is_union:
            for name, tid, bit_off, bits, idx in members:
                if bits:
                    urun = _Bits(bit_off // 8, (bit_off + bits + 7) // 8)
                    urun.members.append((name, bit_off, bits, self._signed(tid), tid, idx))
                    entries.append(("bits", urun))
                elif not name:
                    entries.append(("anon", None, tid, bit_off // 8, idx))
                else:
                    entries.append(("field", name, tid, bit_off // 8, idx))
            return entries, size
        ordered = sorted(members, key=lambda m: m[2])
        cur = 0
        run: _Bits | None = None
        for name, tid, bit_off, bits, idx in ordered:
            if bits:
                if not name:
                    continue  # unnamed bitfield: padding
                start, end = bit_off // 8, (bit_off + bits + 7) // 8
                if run is not None and start < run.end:
                    run.end = max(run.end, end)
                else:
                    if run is not None:
                        entries.append(("bits", run))
                        cur = run.end
                    if start > cur:
                        entries.append(("pad", None, start - cur, cur))
                    elif start < cur:
                        raise self._malformed(t, f"bitfield {name!r} overlaps the "
                                              "previous member")
                    run = _Bits(start, end)
                run.members.append((name, bit_off, bits, self._signed(tid), tid, idx))
                continue
            if run is not None:
                entries.append(("bits", run))
                cur = run.end
                run = None
            if bit_off % 8:
                raise self._malformed(t, f"member {name!r} is not byte aligned")
            off = bit_off // 8
            if off > cur:
                entries.append(("pad", None, off - cur, cur))
            elif off < cur:
                raise self._malformed(t, f"member {name!r} at offset {off} overlaps the "
                                      f"previous member (ends at {cur})")
            msize = self.btf.size_of(tid)
            entries.append(("anon" if not name else "field", name or None, tid, off, idx))
            cur = off + msize
        if run is not None:
            entries.append(("bits", run))
            cur = run.end
        if size > cur:
            entries.append(("pad", None, size - cur, cur))
        elif cur > size:
            raise self._malformed(t, f"members end at {cur}, beyond its size {size}")
        return entries, size

    def _malformed(self, t: BTFType, problem: str) -> FormatError:
        """A record whose members cannot be laid out as BTF says (overlapping or out of
        order): malformed BTF."""
        return FormatError(self.btf._describe(), f"type [{t.id}] {self.btf.type_name(t)}",
                           problem)

    def _signed(self, tid: int) -> bool:
        t = self._resolve(tid)
        return bool(t.signed) if t.kind in (self.K.INT, self.K.ENUM, self.K.ENUM64) else False

    def _record(self, t: BTFType) -> Any:
        K = self.K
        entries, size = self.plan(t)
        is_union = t.kind == K.UNION
        taken = {_py_member(e[1]) for e in entries if e[0] == "field"}
        for e in entries:
            if e[0] == "bits":
                taken.update(_py_member(m[0]) for m in e[1].members)
            elif e[0] == "anon":
                # ctypes exposes an anonymous member's fields (private ones too) on
                # this class: keep this class's private names clear of them.
                taken |= _exposed_names(self.ctype(e[2]))

        def private(base: str) -> str:
            name = base
            while name in taken:
                name += "_"
            taken.add(name)
            return name

        fields: list[tuple[str, Any]] = []
        planned: list[tuple[str, int]] = []
        members: list[tuple[int, tuple[str, str]]] = []
        bitfields: dict[str, tuple[str, int, int, bool]] = {}
        anonymous: list[str] = []
        enums: dict[str, type[enum.IntEnum]] = {}
        for e in entries:
            tag = e[0]
            if tag == "pad":
                fields.append((private(f"_pad_{e[3]}"), ctypes.c_uint8 * e[2]))
                planned.append((fields[-1][0], e[3]))
            elif tag == "field":
                name = _py_member(e[1])
                fields.append((name, self.ctype(e[2])))
                planned.append((name, e[3]))
                members.append((e[4], (name, "f")))
                ec = self._member_enum(e[2])
                if ec is not None:
                    enums[name] = ec
            elif tag == "anon":
                name = private(f"_anon_{e[3]}")
                fields.append((name, self.ctype(e[2])))
                planned.append((name, e[3]))
                members.append((e[4], (name, "a")))
                anonymous.append(name)
            else:
                bits_run: _Bits = e[1]
                nbytes = bits_run.end - bits_run.start
                storage = private(f"_bits_{bits_run.start}")
                fields.append((storage, _STORAGE.get(nbytes) or ctypes.c_uint8 * nbytes))
                planned.append((storage, bits_run.start))
                for bname, bit_off, bits, signed, tid, idx in bits_run.members:
                    py = _py_member(bname)
                    bitfields[py] = (storage, bit_off - bits_run.start * 8, bits, signed)
                    members.append((idx, (py, "b")))
                    ec = self._member_enum(tid)
                    if ec is not None:
                        enums[py] = ec
        if is_union:
            biggest = max((ctypes.sizeof(f[1]) for f in fields), default=0)
            if biggest < size:
                fields.append((private("_pad_0"), ctypes.c_uint8 * size))
                planned.append((fields[-1][0], 0))
        members.sort(key=lambda m: m[0])
        cname = self.class_name(t)
        pyname = cname
        n = 2
        while pyname in self._class_names:
            pyname = f"{cname}_{n}"
            n += 1
        self._class_names.add(pyname)
        ns: dict[str, Any] = {
            "__module__": "libbpfpy.btf",
            "__qualname__": pyname,
            "__doc__": f"{self.btf.type_name(t)} (BTF type [{t.id}], {size} bytes)",
            "_pack_": 1,
            "_fields_": fields,
            "_btf_members_": tuple(m for _, m in members),
            "_btf_bitfields_": bitfields,
            "_btf_enums_": enums,
            "_btf_cname_": self.btf.type_name(t),
        }
        if anonymous:
            ns["_anonymous_"] = tuple(anonymous)
        cls = type(pyname, (Union if is_union else Struct,), ns)
        if ctypes.sizeof(cls) != size:
            raise self._malformed(t, f"its layout cannot be represented (ctypes size "
                                  f"{ctypes.sizeof(cls)}, BTF size {size})")
        for fname, off in planned:
            got = getattr(cls, fname).offset
            if got != off:
                raise self._malformed(t, f"its layout cannot be represented (field "
                                      f"{fname} at {got}, BTF says {off})")
        self.order.append(t.id)
        return cls

    # -- enums ---------------------------------------------------------------------------
    def enum(self, tid: int) -> type[enum.IntEnum]:
        known = self._enums.get(tid)
        if known is not None:
            return known
        t = self.btf[tid]
        if t.kind not in (self.K.ENUM, self.K.ENUM64):
            raise TypeError(f"{self.btf.type_name(t)} is not an enum")
        values = [(_identifier(v.name), v.value) for v in t.values]
        cls: type[enum.IntEnum] = enum.IntEnum(  # type: ignore[misc]
            _identifier(self._name_of(t)), values, module="libbpfpy.btf")
        self._enums[tid] = cls
        return cls

    # -- codecs --------------------------------------------------------------------------
    def codec(self, tid: int) -> Any:
        c = self._codecs.get(tid)
        if c is not None:
            return c
        K = self.K
        t = self._resolve(tid)
        if t.kind == K.INT:
            if t.encoding & 4:
                c = BoolCodec(t.size)
            elif t.size in (1, 2, 4, 8):
                c = IntCodec(t.size, t.signed)
        elif t.kind == K.PTR:
            c = IntCodec(self.btf.pointer_size, False)
        elif t.kind in (K.ENUM, K.ENUM64) and t.size in (1, 2, 4, 8):
            c = EnumCodec(t.size, t.signed, self.enum(t.id))
        elif t.kind == K.FLOAT and t.size in (4, 8):
            c = FloatCodec(t.size)
        elif t.kind == K.ARRAY and self._is_char(self._resolve(t.type_id)):
            c = CharsCodec(t.nelems)
        if c is None:
            c = CtypeCodec(self.ctype(t.id))
        self._codecs[tid] = c
        return c

    # -- numpy ---------------------------------------------------------------------------
    def dtype(self, tid: int) -> Any:
        dt = self._dt.get(tid)
        if dt is not None:
            return dt
        import numpy as np
        K = self.K
        t = self.btf[tid]
        k = t.kind
        e = "<" if self.btf._p().endian == "<" else ">"
        if k in (K.TYPEDEF, K.CONST, K.VOLATILE, K.RESTRICT, K.TYPE_TAG, K.VAR):
            dt = self.dtype(t.type_id)
        elif k == K.INT:
            if t.encoding & 4 and t.size == 1:
                dt = np.dtype("?")
            elif t.size in (1, 2, 4, 8):
                dt = np.dtype(f"{e}{'i' if t.signed else 'u'}{t.size}")
            else:
                dt = np.dtype(f"V{t.size}")
        elif k == K.PTR:
            dt = np.dtype(f"{e}u{self.btf.pointer_size}")
        elif k in (K.ENUM, K.ENUM64):
            dt = np.dtype(f"{e}{'i' if t.signed else 'u'}{t.size}")
        elif k == K.FLOAT:
            dt = np.dtype(f"{e}f{t.size}") if t.size in (4, 8) else np.dtype(f"V{t.size}")
        elif k == K.ARRAY:
            if self._is_char(self._resolve(t.type_id)):
                dt = np.dtype(f"S{t.nelems}")
            else:
                elem = self.dtype(t.type_id)
                if elem.subdtype is not None:  # multi-dimensional: one shape
                    dt = np.dtype((elem.subdtype[0], (t.nelems, *elem.subdtype[1])))
                else:
                    dt = np.dtype((elem, (t.nelems,)))
        elif k in (K.STRUCT, K.UNION, K.DATASEC):
            dt = self._record_dtype(t)
        else:
            self.ctype(tid)  # raises the explanatory TypeError
            raise TypeError(f"BTF type [{tid}] has no numpy equivalent")
        self._dt[tid] = dt
        return dt

    def _record_dtype(self, t: BTFType) -> Any:
        import numpy as np
        entries, size = self.plan(t)
        names: list[str] = []
        formats: list[Any] = []
        offsets: list[int] = []

        def add(name: str, fmt: Any, off: int) -> None:
            while name in names:
                name += "_"
            names.append(name)
            formats.append(fmt)
            offsets.append(off)

        for e in entries:
            if e[0] == "field":
                add(e[1], self.dtype(e[2]), e[3])
            elif e[0] == "anon":
                inner = self.dtype(e[2])
                for fname in inner.names:
                    fdt, foff = inner.fields[fname][:2]
                    if fname.startswith("_bits_"):
                        fname = f"_bits_{e[3] + foff}"
                    add(fname, fdt, e[3] + foff)
            elif e[0] == "bits":
                run = e[1]
                nbytes = run.end - run.start
                fmt = np.dtype(f"u{nbytes}") if nbytes in (1, 2, 4, 8) else \
                    np.dtype(("u1", (nbytes,)))
                add(f"_bits_{run.start}", fmt, run.start)
        return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                         "itemsize": size})


def _exposed_names(cls: Any) -> set[str]:
    """Every attribute name a record class's fields put on a class embedding it as an
    anonymous member."""
    names: set[str] = set(getattr(cls, "_btf_forwarded_", ()))
    anon = set(getattr(cls, "_anonymous_", ()))
    for f in getattr(cls, "_fields_", ()):
        names.add(f[0])
        if f[0] in anon:
            names |= _exposed_names(f[1])
    return names


def _identifier(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "_"
    if out[0].isdigit():
        out = "_" + out
    import keyword
    if keyword.iskeyword(out):
        out += "_"
    return out


_RESERVED = frozenset(dir(Struct)) | frozenset(dir(Union))


def _py_member(name: str | None) -> str:
    """A member's Python name: its C name unless it clashes with the base classes."""
    if name is None:
        return ""
    if name in _RESERVED or name.startswith("_btf"):
        return name + "_"
    return name
