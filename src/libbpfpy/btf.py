"""BPF Type Format: the types of kernels and BPF objects (libbpf's ``struct btf``).

    btf = BTF.vmlinux()                      # or BTF.from_file(), BTF.from_id(), obj.btf
    t = btf.type("task_struct")              # a BTFType: kind, size, members...
    Event = obj.btf.ctypes_type("event")     # a ctypes Structure laid out as BTF says
    dt = obj.btf.numpy_dtype("event")        # the same as a numpy structured dtype

BTF is libbpfpy's single source of truth for types: map keys and values, global
variables and ring buffer events are decoded through the classes built here, whose
size and member offsets equal BTF's (padding and bitfields included).

Types are read from the BTF's raw data (parsed once, on first use) and looked up by
name through libbpf (``btf__find_by_name_kind``).
"""
from __future__ import annotations

import builtins
import ctypes
import enum
import errno
import os
import struct
import threading
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._btf_types import Struct, TypeBuilder, Union
from ._deferred import any_pending
from ._lifetime import Owner, guarded
from ._raw import CALLBACKS, check_int, check_ptr, lib, libc, opts, raise_pending
from .errors import BPFError

if TYPE_CHECKING:
    from ._codec import Codec

__all__ = ["BTF", "BTFType", "Kind", "Member", "EnumValue", "Param", "SecInfo",
           "Variable", "Struct", "Union", "map_codec", "Encoding"]

_VMLINUX_HEADER = """\
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

"""
_VMLINUX_FOOTER = """
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""


class Kind(enum.IntEnum):
    """BTF type kinds (``BTF_KIND_*``)."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class Encoding(enum.IntFlag):
    """Encoding bits of a BTF ``INT`` (``BTF_INT_SIGNED``, ``_CHAR``, ``_BOOL``)."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


#: Kinds that only qualify another type (skipped when resolving).
MODIFIERS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
                       Kind.TYPE_TAG})
_KIND_BY_WORD = {"struct": Kind.STRUCT, "union": Kind.UNION, "enum": Kind.ENUM}
# Kinds tried, in order, when a name is looked up without a kind.
_LOOKUP_ORDER = (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF, Kind.ENUM, Kind.ENUM64, Kind.INT,
                 Kind.FLOAT, Kind.DATASEC, Kind.VAR, Kind.FUNC, Kind.FWD)
# Size in bytes of what follows a btf_type record of each kind (per entry, vlen).
_EXTRA_FIXED = {Kind.INT: 4, Kind.ARRAY: 12, Kind.VAR: 4, Kind.DECL_TAG: 4}
_EXTRA_PER_VLEN = {Kind.STRUCT: 12, Kind.UNION: 12, Kind.ENUM: 8, Kind.FUNC_PROTO: 8,
                   Kind.DATASEC: 12, Kind.ENUM64: 12}


class Member(NamedTuple):
    """A member of a struct or union: ``bit_offset`` from the start of the record;
    ``bitfield_size`` is 0 for ordinary members."""

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int

    @property
    def offset(self) -> int:
        """Byte offset (bitfields: of the byte holding their first bit)."""
        return self.bit_offset // 8


class EnumValue(NamedTuple):
    """An enumerator of an ``ENUM`` or ``ENUM64``."""

    name: str
    value: int


class Param(NamedTuple):
    """A parameter of a ``FUNC_PROTO`` (name empty in prototypes of pointers)."""

    name: str
    type_id: int


class SecInfo(NamedTuple):
    """A variable placed in a ``DATASEC``: its ``VAR`` type id, offset and size."""

    type_id: int
    offset: int
    size: int


class Variable(NamedTuple):
    """A global variable of an object: its section, place and type."""

    name: str
    section: str
    offset: int
    size: int
    type_id: int
    var_id: int


class BTFType:
    """One BTF type (read-only).  ``btf[type_id]`` or ``btf.type(name)`` gives it.

    Common attributes: ``id``, ``kind`` (:class:`Kind`), ``name`` ("" when anonymous),
    ``vlen``, ``kflag``.  By kind:

    * INT: ``size``, ``encoding`` (:class:`Encoding`), ``bits``, ``bit_offset``, ``signed``
    * PTR, TYPEDEF, CONST, VOLATILE, RESTRICT, TYPE_TAG, FUNC, VAR: ``type_id``
    * ARRAY: ``type_id`` (element), ``index_type_id``, ``nelems``
    * STRUCT, UNION: ``size``, ``members`` (:class:`Member`)
    * ENUM, ENUM64: ``size``, ``values`` (:class:`EnumValue`), ``signed``
    * FUNC_PROTO: ``type_id`` (return type), ``params`` (:class:`Param`)
    * VAR: ``linkage``; FUNC: ``linkage`` (``vlen``)
    * DATASEC: ``size``, ``vars`` (:class:`SecInfo`)
    * FLOAT: ``size``;  DECL_TAG: ``type_id``, ``component_idx``
    """

    __slots__ = ("id", "kind", "name", "vlen", "kflag", "size", "type_id", "encoding",
                 "bits", "bit_offset", "index_type_id", "nelems", "members", "values",
                 "params", "vars", "linkage", "component_idx", "signed")

    def __init__(self, type_id: int, kind: Kind, name: str, vlen: int, kflag: bool) -> None:
        self.id = type_id
        self.kind = kind
        self.name = name
        self.vlen = vlen
        self.kflag = kflag
        self.size = 0
        self.type_id = 0
        self.encoding = Encoding.NONE
        self.bits = 0
        self.bit_offset = 0
        self.index_type_id = 0
        self.nelems = 0
        self.members: tuple[Member, ...] = ()
        self.values: tuple[EnumValue, ...] = ()
        self.params: tuple[Param, ...] = ()
        self.vars: tuple[SecInfo, ...] = ()
        self.linkage = 0
        self.component_idx = -1
        self.signed = False

    @property
    def is_modifier(self) -> bool:
        """TYPEDEF, CONST, VOLATILE, RESTRICT or TYPE_TAG."""
        return self.kind in MODIFIERS

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        extra = ""
        if self.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                         Kind.FLOAT, Kind.DATASEC):
            extra = f" size={self.size}"
        elif self.kind == Kind.ARRAY:
            extra = f" type_id={self.type_id} nelems={self.nelems}"
        elif self.kind != Kind.UNKN:
            extra = f" type_id={self.type_id}"
        return f"<BTFType [{self.id}] {self.kind.name}{name}{extra}>"


class _Parsed:
    """The raw type and string sections of one BTF, with an offset per type id."""

    def __init__(self, data: bytes, start_id: int, base: _Parsed | None,
                 endian: str) -> None:
        self.endian = endian
        (magic, _version, _flags, hdr_len, type_off, type_len, str_off,
         str_len) = struct.unpack_from(endian + "HBBIIIII", data, 0)
        if magic != 0xEB9F:
            raise ValueError("not BTF data (bad magic)")
        self.types = memoryview(data)[hdr_len + type_off: hdr_len + type_off + type_len]
        self.strings = data[hdr_len + str_off: hdr_len + str_off + str_len]
        self.start_id = start_id
        self.base = base
        self.base_str_len: int = len(base.strings) + base.base_str_len if base else 0
        offsets = array("I")
        kinds = array("B")
        types = self.types
        unpack = struct.Struct(endian + "I").unpack_from
        off = 0
        end = len(types)
        fixed = {int(k): v for k, v in _EXTRA_FIXED.items()}
        per = {int(k): v for k, v in _EXTRA_PER_VLEN.items()}
        while off < end:
            offsets.append(off)
            info = unpack(types, off + 4)[0]
            kind = (info >> 24) & 0x1F
            kinds.append(kind)
            off += 12 + fixed.get(kind, 0) + per.get(kind, 0) * (info & 0xFFFF)
        self.offsets = offsets
        self.kinds = kinds

    def string(self, off: int) -> str:
        if off < self.base_str_len and self.base is not None:
            return self.base.string(off)
        off -= self.base_str_len
        s = self.strings
        end = s.index(b"\0", off)
        return s[off:end].decode("utf-8", "replace")


@guarded()
class BTF(Owner):
    """A set of BTF types: a kernel's, a kernel module's or a BPF object's.

    Iterating gives every :class:`BTFType` (ids 1..len; for split BTF such as a
    module's, only its own types, from :attr:`start_id`); ``btf[id]`` any one of them.
    Objects' BTF (``obj.btf``) is borrowed from the object and closes with it; BTF
    from :meth:`vmlinux`, :meth:`from_file`, :meth:`from_id` or :meth:`from_bytes` is
    owned: close it (or use ``with``).
    """

    _kind = "btf"

    def __init__(self, ptr: int, *, owner: Any = None, name: str = "btf",
                 base: BTF | None = None) -> None:
        super().__init__()
        self._ptr: Any = ptr
        self._owner = owner
        self._name = name
        self._base = base
        self._parsed: _Parsed | None = None
        self._types: dict[int, BTFType] = {}
        self._plock = threading.Lock()
        self._builder: TypeBuilder | None = None
        self._block = threading.RLock()   # one thread builds Python types at a time
        self._owned_base: BTF | None = None
        if owner is None:
            self._arm(lib.btf__free, ptr)
        if base is not None:
            # Split BTF points into its base: closing the base closes it first.
            base._adopt(self)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def _borrowed(cls, ptr: int, owner: Any) -> BTF:
        btf = cls(ptr, owner=owner, name=f"btf of {owner._describe()}")
        owner._adopt(btf)
        return btf

    def _release(self) -> None:
        if self._owner is None:
            lib.btf__free(self._ptr)
        self._ptr = None
        self._types.clear()
        self._parsed = None
        self._builder = None
        if self._owned_base is not None:
            self._owned_base.close()
            self._owned_base = None

    def _describe(self) -> str:
        return self._name

    @classmethod
    def vmlinux(cls) -> BTF:
        """The running kernel's BTF (``/sys/kernel/btf/vmlinux``).

        Requires Linux >= 5.4 built with CONFIG_DEBUG_INFO_BTF."""
        ptr = check_ptr(lib.btf__load_vmlinux_btf(), "btf__load_vmlinux_btf", "vmlinux",
                        hint="the kernel needs CONFIG_DEBUG_INFO_BTF=y")
        return cls(ptr, name="vmlinux")._owned()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, base: BTF | None = None) -> BTF:
        """BTF read from an ELF file's ``.BTF`` section or from a raw BTF file.

        ``base`` is the BTF a split BTF builds on (e.g. vmlinux for a module's).
        The file must be a regular file; its BTF is checked before libbpf parses it
        (:class:`~libbpfpy.errors.FormatError` when malformed)."""
        from .validate import raw_btf, read_input
        p = os.fspath(path)
        return cls.from_bytes(raw_btf(read_input(p, "BTF file"), p), name=p, base=base)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *,
                   name: str = "btf", base: BTF | None = None) -> BTF:
        """BTF from raw BTF bytes (the ``.BTF`` section format), split BTF on top of
        ``base`` when given.  Checked before libbpf parses it: malformed BTF raises
        :class:`~libbpfpy.errors.FormatError` naming the type at fault."""
        from .validate import check_btf, memfd
        raw = bytes(data)
        if base is not None:
            with base._use():
                base._check()
                check_btf(raw, name, base=base._as_base())
                # libbpf 1.1 has no btf__new_split: it reads the checked bytes from an
                # in-memory file.
                with memfd(raw) as f:
                    ptr = check_ptr(lib.btf__parse_raw_split(
                        f"/proc/self/fd/{f.fileno()}".encode(), base._ptr),
                        "btf__parse_raw_split", name)
            return cls(ptr, name=name, base=base)._owned()
        check_btf(raw, name)
        buf = ctypes.create_string_buffer(raw, len(raw))
        ptr = check_ptr(lib.btf__new(buf, len(raw)), "btf__new", name)
        return cls(ptr, name=name)._owned()

    def _owned(self) -> BTF:
        """Self, once owned: raise what a callback kept meanwhile (closing self)."""
        raise_pending(self.close)
        return self

    def _as_base(self) -> Any:
        """What checking split BTF on top of this one needs to know of it."""
        from .validate import Base
        p = self._p()

        def size(tid: int) -> int | None:
            t = self._get(tid)
            if t.kind in (Kind.UNKN, Kind.FWD, Kind.FUNC, Kind.FUNC_PROTO, Kind.DECL_TAG):
                return None
            ret = int(lib.btf__resolve_size(self._ptr, tid))
            return ret if ret >= 0 else None

        return Base(ntypes=p.start_id + len(p.offsets),
                    str_len=p.base_str_len + len(p.strings),
                    kind=lambda tid: int(self._get(tid).kind),
                    size=size, vlen=lambda tid: self._get(tid).vlen)

    @classmethod
    def from_id(cls, btf_id: int, *, base: BTF | None = None) -> BTF:
        """The BTF the kernel holds under ``btf_id`` (a loaded object's or a module's).

        A kernel module's BTF is split BTF on top of vmlinux's: pass ``base`` (the
        vmlinux BTF), or it is loaded (and owned by the result) automatically.
        Requires Linux >= 4.18 (module BTF: >= 5.11) and privileges (CAP_SYS_ADMIN)."""
        if base is not None:
            base._check()
            ptr = check_ptr(lib.btf__load_from_kernel_by_id_split(btf_id, base._ptr),
                            "btf__load_from_kernel_by_id_split", f"BTF id {btf_id}")
            return cls(ptr, name=f"BTF id {btf_id}", base=base)._owned()
        ptr = lib.btf__load_from_kernel_by_id(btf_id)
        if ptr:
            return cls(ptr, name=f"BTF id {btf_id}")._owned()
        if ctypes.get_errno() in (errno.ENOENT, errno.EPERM, errno.EACCES):
            check_ptr(ptr, "btf__load_from_kernel_by_id", f"BTF id {btf_id}")
        # Anything else: perhaps split BTF (a module's), which needs vmlinux as base.
        vmlinux = cls.vmlinux()
        try:
            split = cls.from_id(btf_id, base=vmlinux)
        except BaseException:
            vmlinux.close()
            raise
        split._owned_base = vmlinux  # closed right after the split BTF that uses it
        return split

    @classmethod
    def new_empty(cls, *, base: BTF | None = None, name: str = "btf") -> BTF:
        """A new, empty BTF to add types to (``add_*``); with ``base``, a split BTF on
        top of it (``base`` must stay open as long as this one: closing it closes
        this)."""
        if base is None:
            return cls(check_ptr(lib.btf__new_empty(), "btf__new_empty", name), name=name)
        base._check()
        ptr = check_ptr(lib.btf__new_empty_split(base._ptr), "btf__new_empty_split", name)
        return cls._split_of(ptr, base, name)

    @classmethod
    def new_split(cls, data: bytes | bytearray | memoryview, base: BTF, *,
                  name: str = "split btf") -> BTF:
        """Split BTF from raw bytes (a module's ``.BTF``, :meth:`raw_data` of a split
        BTF) on top of ``base``, which must stay open as long as the result (closing
        it closes the result).  Requires libbpf >= 1.4."""
        call = lib.btf__new_split  # a libbpf without it says which one has it
        base._check()
        raw = bytes(data)
        buf = ctypes.create_string_buffer(raw, len(raw))
        ptr = check_ptr(call(buf, len(raw), base._ptr), "btf__new_split", name)
        return cls._split_of(ptr, base, name)

    @classmethod
    def _split_of(cls, ptr: int, base: BTF, name: str) -> BTF:
        try:
            btf = cls(ptr, name=name, base=base)
        except BaseException:
            lib.btf__free(ptr)
            raise
        base._adopt(btf)
        return btf

    # -- split BTF: distill and relocate (libbpf >= 1.5) ---------------------------------
    def distill_base(self) -> tuple[BTF, BTF]:
        """For a split BTF (a kernel module's): ``(base, split)``, a minimal base with
        only what the split BTF references of its base (names, sizes, kinds: enough to
        find them again), and the split BTF rebased on it.  Shipping those two lets the
        split BTF be :meth:`relocate`-d onto a slightly different kernel's BTF later.
        Both are new and owned (closing the base closes the split).  Requires
        libbpf >= 1.5."""
        call = lib.btf__distill_base  # a libbpf without it says which one has it
        self._check()
        if self._base is None:
            raise BPFError(errno.EINVAL, f"{self._name} is not split BTF: only split BTF "
                           "(with a base) can be distilled", call="btf__distill_base",
                           target=self._name)
        new_base, new_split = ctypes.c_void_p(), ctypes.c_void_p()
        check_int(call(self._ptr, ctypes.byref(new_base), ctypes.byref(new_split)),
                  "btf__distill_base", self._name)
        assert new_base.value and new_split.value
        base = type(self)(new_base.value, name=f"distilled base of {self._name}")
        try:
            split = type(self)._split_of(new_split.value, base, f"{self._name} (distilled)")
        except BaseException:
            base.close()
            raise
        return base, split

    def relocate(self, base: BTF) -> None:
        """Re-parent this split BTF (built on a distilled base) onto ``base`` (the
        full BTF it belongs with, e.g. this kernel's vmlinux): references into the old
        base are matched by name, kind and size and renumbered, and ``base`` becomes
        its base (keep it open: closing it closes this).  Requires libbpf >= 1.5."""
        call = lib.btf__relocate  # a libbpf without it says which one has it
        self._check()
        base._check()
        if self._owner is not None or self._base is None:
            raise BPFError(errno.EINVAL, f"{self._name}: only split BTF of your own (from "
                           "distill_base(), new_split() ...) can be relocated",
                           call="btf__relocate", target=self._name)
        # libbpf (1.7) rewrites the types in place but keeps serving raw data it cached
        # before (btf__raw_data: stale ids and strings), and no public call drops that
        # cache: relocate a fresh copy made from the raw data, then take its place.
        size = ctypes.c_uint32()
        raw = check_ptr(lib.btf__raw_data(self._ptr, ctypes.byref(size)), "btf__raw_data",
                        self._name)
        fresh = check_ptr(lib.btf__new_split(raw, size.value, self._base._ptr),
                          "btf__new_split", self._name)
        ret = call(fresh, base._ptr)
        if ret < 0:
            lib.btf__free(fresh)
            check_int(ret, "btf__relocate", f"{self._name} onto {base._name}")
        old = self._ptr
        self._disarm()
        self._ptr = fresh
        self._arm(lib.btf__free, fresh)
        lib.btf__free(old)
        previous, self._base = self._base, base
        # no longer built on the old base: closing that one leaves this open
        previous._dependants = [r for r in previous._dependants if r() is not self]
        base._adopt(self)
        self._changed()

    def permute(self, new_ids: Mapping[int, int]) -> None:
        """Renumber this BTF's own types in place: ``new_ids[old_id] = new_id`` for
        every one of them (a permutation of their ids; ``void`` stays 0, a split BTF's
        base is not touched), with every reference inside updated.  Requires
        libbpf >= 1.7."""
        call = lib.btf__permute  # a libbpf without it says which one has it
        self._check()
        start = self.start_id
        ids = range(start, start + len(self) - (start - 1))
        if sorted(new_ids) != list(ids) or sorted(new_ids.values()) != list(ids):
            raise ValueError(f"permute() needs a permutation of the type ids "
                             f"{start}..{ids[-1] if ids else start - 1}, each once")
        first = 0 if self._base is None else start
        count = len(ids) + (1 if self._base is None else 0)
        arr = (ctypes.c_uint32 * count)()
        for old, new in new_ids.items():
            arr[old - first] = new
        o = opts("btf_permute_opts")
        check_int(call(self._ptr, arr, count, ctypes.byref(o)), "btf__permute", self._name)
        self._changed()

    # -- adding types ----------------------------------------------------------------------
    def _add(self, call: str, *args: Any) -> int:
        self._check()
        if self._owner is not None:
            raise BPFError(errno.EPERM, f"{self._name} belongs to an object: add types to "
                           "a BTF of your own (BTF.new_empty())", call=call,
                           target=self._name)
        ret = getattr(lib, call)(self._ptr, *args)
        self._changed()
        return check_int(ret, call, self._name)

    def _changed(self) -> None:
        with self._plock:
            self._parsed = None
            self._types.clear()
            self._builder = None

    def add_int(self, name: str, size: int, encoding: Encoding | int = Encoding.NONE) -> int:
        """Add an integer type; returns its id."""
        return self._add("btf__add_int", name.encode(), size, int(encoding))

    def add_ptr(self, ref_type_id: int) -> int:
        """Add a pointer to ``ref_type_id``; returns its id."""
        return self._add("btf__add_ptr", ref_type_id)

    def add_struct(self, name: str, size: int,
                   fields: Iterable[tuple[str, int, int]] = ()) -> int:
        """Add a struct of ``size`` bytes with ``fields`` ``(name, type_id, bit_offset)``
        in order; returns its id."""
        type_id = self._add("btf__add_struct", name.encode(), size)
        for fname, ftype, bit_offset in fields:
            self._add("btf__add_field", fname.encode(), ftype, bit_offset, 0)
        return type_id

    def add_typedef(self, name: str, ref_type_id: int) -> int:
        """Add ``typedef <ref_type_id> name``; returns its id."""
        return self._add("btf__add_typedef", name.encode(), ref_type_id)

    def add_type_tag(self, value: str, ref_type_id: int) -> int:
        """Add ``btf_type_tag(value)`` on ``ref_type_id``; returns its id."""
        return self._add("btf__add_type_tag", value.encode(), ref_type_id)

    def add_decl_tag(self, value: str, ref_type_id: int, component_idx: int = -1) -> int:
        """Add ``btf_decl_tag(value)`` on ``ref_type_id`` (or its member/argument
        ``component_idx``); returns its id."""
        return self._add("btf__add_decl_tag", value.encode(), ref_type_id, component_idx)

    def add_type_attr(self, value: str, ref_type_id: int) -> int:
        """Add a type attribute (a TYPE_TAG with kflag set: ``__attribute__((value))``
        on ``ref_type_id`` when written as C); returns its id.  Requires libbpf >= 1.6."""
        lib.btf__add_type_attr  # noqa: B018 - a libbpf without it says so first
        return self._add("btf__add_type_attr", value.encode(), ref_type_id)

    def add_decl_attr(self, value: str, ref_type_id: int, component_idx: int = -1) -> int:
        """Add a declaration attribute (a DECL_TAG with kflag set) on ``ref_type_id``
        (or its component ``component_idx``); returns its id.  Requires libbpf >= 1.6."""
        lib.btf__add_decl_attr  # noqa: B018 - a libbpf without it says so first
        return self._add("btf__add_decl_attr", value.encode(), ref_type_id, component_idx)

    # -- raw access ---------------------------------------------------------------------
    def _p(self) -> _Parsed:
        parsed = self._parsed
        if parsed is not None:
            return parsed
        self._check()
        with self._plock, self._use():
            if self._parsed is None:
                size = ctypes.c_uint32()
                ptr = check_ptr(lib.btf__raw_data(self._ptr, ctypes.byref(size)),
                                "btf__raw_data", self._name)
                data = ctypes.string_at(ptr, size.value)
                endian = ">" if lib.btf__endianness(self._ptr) == 1 else "<"
                base_ptr = lib.btf__base_btf(self._ptr)
                base = None
                start = 1
                if base_ptr:
                    if self._base is None or self._base._ptr != base_ptr:
                        raise BPFError(errno.EINVAL, f"{self._name}: split BTF without "
                                       "its base BTF object")
                    base = self._base._p()
                    start = int(lib.btf__type_cnt(base_ptr))
                self._parsed = _Parsed(data, start, base, endian)
            return self._parsed

    def raw_data(self) -> bytes:
        """The BTF in its raw binary format (header, types, strings)."""
        self._check()
        size = ctypes.c_uint32()
        ptr = check_ptr(lib.btf__raw_data(self._ptr, ctypes.byref(size)), "btf__raw_data",
                        self._name)
        return ctypes.string_at(ptr, size.value)

    def string(self, offset: int) -> str:
        """The string at ``offset`` of the string section (a split BTF's offsets go on
        from its base's): names, and the file names and source lines of line_info."""
        return self._p().string(offset)

    @property
    def pointer_size(self) -> int:
        """Size of pointers in this BTF's target (8 for BPF and 64-bit kernels)."""
        self._check()
        return int(lib.btf__pointer_size(self._ptr)) or 8

    @property
    def start_id(self) -> int:
        """The first type id of this BTF (above 1 for split BTF such as modules')."""
        return self._p().start_id

    def __len__(self) -> int:
        """The number of types, not counting ``void`` (id 0)."""
        self._check()
        return int(lib.btf__type_cnt(self._ptr)) - 1

    def __iter__(self) -> Iterator[BTFType]:
        p = self._p()
        for i in range(len(p.offsets)):
            yield self._get(p.start_id + i)

    def types(self, kind: Kind | int | None = None) -> Iterator[BTFType]:
        """The types of this BTF (not its base's), optionally only those of ``kind``."""
        if kind is None:
            yield from self
            return
        p = self._p()
        k = int(kind)
        for i, tk in enumerate(p.kinds):
            if tk == k:
                yield self._get(p.start_id + i)

    def __getitem__(self, type_id: int) -> BTFType:
        return self._get(type_id)

    def __contains__(self, item: object) -> bool:
        try:
            self.type_id(item)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def _get(self, type_id: int) -> BTFType:
        t = self._types.get(type_id)
        if t is not None:
            return t
        p = self._p()
        if type_id < p.start_id:
            if type_id == 0:
                t = BTFType(0, Kind.UNKN, "void", 0, False)
                self._types[0] = t
                return t
            if p.base is None or self._base is None:
                raise KeyError(f"{self._name} has no type id {type_id}")
            return self._base._get(type_id)
        idx = type_id - p.start_id
        if idx >= len(p.offsets):
            raise KeyError(f"{self._name} has no type id {type_id} "
                           f"(ids go up to {p.start_id + len(p.offsets) - 1})")
        t = _decode(p, type_id, p.offsets[idx])
        self._types[type_id] = t
        return t

    # -- lookup -------------------------------------------------------------------------
    def type_id(self, name: str | int | BTFType, kind: Kind | int | None = None) -> int:
        """The id of the type ``name`` (optionally of ``kind``); KeyError if none.

        ``name`` may be prefixed with ``struct``/``union``/``enum``; without a kind,
        structs are preferred, then unions, typedefs, enums, ints, ...  An int or a
        :class:`BTFType` is returned as its id (after checking it exists)."""
        self._check()
        if isinstance(name, BTFType):
            return name.id
        if isinstance(name, int):
            self._get(name)
            return name
        if not isinstance(name, str):
            raise TypeError(f"a BTF type is named by str or id, not {type(name).__name__}")
        text = name.strip()
        if not text:
            raise KeyError(f"{name!r} is not a type name (anonymous types have no name: "
                           "use their id)")
        word, _, rest = text.partition(" ")
        if kind is None and word in _KIND_BY_WORD and rest:
            kind = _KIND_BY_WORD[word]
            text = rest.strip()
            if kind == Kind.ENUM:
                for ek in (Kind.ENUM, Kind.ENUM64):
                    tid = lib.btf__find_by_name_kind(self._ptr, text.encode(), int(ek))
                    if tid > 0:
                        return int(tid)
                raise KeyError(self._missing(name))
        kinds: tuple[int, ...] = (int(kind),) if kind is not None else _LOOKUP_ORDER
        for k in kinds:
            tid = lib.btf__find_by_name_kind(self._ptr, text.encode(), int(k))
            if tid > 0:
                return int(tid)
        raise KeyError(self._missing(name, kind))

    def _missing(self, name: str, kind: Kind | int | None = None) -> str:
        what = f"{Kind(kind).name.lower()} " if kind is not None else ""
        msg = f"{self._name} has no type {what}{name!r}"
        if self._owner is not None:
            msg += (" (an object's BTF only holds the types its maps, globals and "
                    "function signatures use: to make a type available, use it in one,"
                    " e.g. a global 'struct T _unused_T;')")
        return msg

    def type(self, name: str | int | BTFType, kind: Kind | int | None = None) -> BTFType:
        """The :class:`BTFType` named ``name`` (or with that id); KeyError if none."""
        if isinstance(name, int) and not self._closed:
            return self._get(name)
        return self._get(self.type_id(name, kind))

    def find(self, name: str, kind: Kind | int | None = None) -> BTFType | None:
        """Like :meth:`type`, but None when there is no such type."""
        try:
            return self.type(name, kind)
        except KeyError:
            return None

    def resolve(self, t: str | int | BTFType) -> BTFType:
        """The type after skipping typedefs and const/volatile/restrict/type tags."""
        cur = self._get(t) if isinstance(t, int) and not self._closed else self.type(t)
        for _ in range(64):
            if cur.kind not in MODIFIERS:
                return cur
            cur = self._get(cur.type_id)
        raise BPFError(errno.ELOOP, f"{self._name}: type chain too deep at [{cur.id}]")

    def size_of(self, t: str | int | BTFType) -> int:
        """Size in bytes of a type (through typedefs, modifiers and arrays)."""
        tid = self.type_id(t)
        return check_int(int(lib.btf__resolve_size(self._ptr, tid)), "btf__resolve_size",
                         f"type [{tid}] of {self._name}")

    def align_of(self, t: str | int | BTFType) -> int:
        """Alignment in bytes of a type, as libbpf infers it from BTF (1 for packed
        records; BTF does not record ``__attribute__((aligned(N)))``)."""
        tid = self.type_id(t)
        ret = int(lib.btf__align_of(self._ptr, tid))
        if ret == 0:
            raise BPFError(errno.EINVAL, f"type [{tid}] of {self._name} has no alignment "
                           "(void, function or incomplete type)", call="btf__align_of")
        return check_int(ret, "btf__align_of", f"type [{tid}] of {self._name}")

    def type_name(self, t: str | int | BTFType) -> str:
        """The C spelling of a type: ``struct foo``, ``unsigned int``, ``char[16]``..."""
        return _c_name(self, self.type(t), "")

    # -- variables and maps ---------------------------------------------------------------
    def datasecs(self) -> list[BTFType]:
        """The DATASEC types (``.data``, ``.rodata``, ``.bss``, ``.maps``, ...)."""
        return list(self.types(Kind.DATASEC))

    def variables(self, section: str | None = None) -> list[Variable]:
        """Every global variable in a DATASEC (optionally only those of ``section``)."""
        out = []
        for sec in self.types(Kind.DATASEC):
            if section is not None and sec.name != section:
                continue
            for vi in sec.vars:
                var = self._get(vi.type_id)
                if var.kind != Kind.VAR:
                    continue
                out.append(Variable(var.name, sec.name, vi.offset, vi.size, var.type_id,
                                    var.id))
        return out

    def map_types(self, m: Any) -> tuple[BTFType | None, BTFType | None]:
        """The BTF types of a map's key and value (None where the map has none).

        For libbpf's global-data maps (``.data``, ``.bss``, ``.rodata``...) the value
        type is the section's DATASEC."""
        key_id = int(m.btf_key_type_id)
        value_id = int(m.btf_value_type_id)
        if not value_id and getattr(m, "is_internal", False):
            sec = _internal_section(m)
            if sec is not None:
                found = self.find(sec, Kind.DATASEC)
                value_id = found.id if found is not None else 0
        return (self._get(key_id) if key_id else None,
                self._get(value_id) if value_id else None)

    # -- Python types -----------------------------------------------------------------------
    def _types_builder(self) -> TypeBuilder:
        self._check()
        if self._builder is None:
            self._builder = TypeBuilder(self)
        return self._builder

    def ctypes_type(self, t: str | int | BTFType) -> Any:
        """A ctypes type laid out exactly as BTF describes ``t`` (a name or an id).

        Structs and unions become :class:`Struct`/:class:`Union` subclasses
        (``_pack_ = 1`` with explicit padding, so ``ctypes.sizeof`` and every member
        offset equal BTF's); their instances take and show member values by name
        (``Event(pid=1, comm=b"sh")``, ``repr``, ``to_dict()``).  Ints map to
        ``c_int8``..``c_uint64`` by size and signedness, ``bool`` to ``c_bool``, enums to
        the int of their size (see :meth:`enum_class`), pointers to ``c_uint64``
        (addresses as integers), arrays to ctypes arrays (``char`` arrays to ``c_char``
        arrays, read as bytes), typedefs and qualifiers to their underlying type.
        Bitfields are properties over their storage bytes.  Built types are cached.
        """
        with self._block:
            return self._types_builder().ctype(self.type_id(t))

    def numpy_dtype(self, t: str | int | BTFType) -> Any:
        """A numpy dtype with the layout of ``t`` (structured for structs and unions).

        Anonymous members are flattened into their parent, bitfields appear as their
        storage bytes (``_bits_<byte offset>``), ``char`` arrays as ``S<n>``.
        Imports numpy (an optional dependency)."""
        with self._block:
            return self._types_builder().dtype(self.type_id(t))

    def enum_class(self, t: str | int | BTFType) -> builtins.type[enum.IntEnum]:
        """An :class:`enum.IntEnum` with the enumerators of an ``ENUM``/``ENUM64``
        (ENUM64 and signed enums need BTF from Linux >= 6.0 / LLVM >= 15 toolchains;
        older BTF marks no signedness, so an enum is signed when a value is negative)."""
        with self._block:
            return self._types_builder().enum(self.resolve(t).id)

    def codec(self, t: str | int | BTFType) -> Codec:
        """A codec (``size``, ``encode(value) -> bytes``, ``decode(bytes) -> value``) for
        values of type ``t``: what typed maps and globals use.

        Ints decode to int (bool, enums to IntEnum members when known), ``char``
        arrays to bytes (up to the first NUL), other arrays to lists, structs and
        unions to instances of :meth:`ctypes_type`.  Encoding accepts those, plus
        tuples or dicts for structs, str for char arrays, and bytes of the exact size.
        """
        with self._block:
            codec: Codec = self._types_builder().codec(self.type_id(t))
        return codec

    # -- C ------------------------------------------------------------------------------
    def dump_c(self, path: str | os.PathLike[str], *,
               types: Iterable[str | int | BTFType] | None = None,
               header: bool | None = None) -> None:
        """Write C declarations to ``path``: by default every type, wrapped as a
        ``vmlinux.h`` for BPF C (as ``bpftool btf dump ... format c`` does).

        ``types`` limits the output to those types and what they depend on;
        ``header`` (default: only when dumping everything) adds the include guard and
        the ``preserve_access_index`` pragma.  The file is replaced atomically, only
        once the whole text is written (a full disk leaves no truncated header)."""
        from ._files import atomic_write
        atomic_write(path, self.to_c(types, header=header).encode())

    def to_c(self, types: Iterable[str | int | BTFType] | None = None, *,
             header: bool | None = None) -> str:
        """Like :meth:`dump_c`, returning the text."""
        self._check()
        ids = None if types is None else [self.type_id(t) for t in types]
        if header is None:
            header = ids is None
        with _MemStream() as ms:
            self._dump_to(ms.fp, ids, header)
        return ms.text

    def _dump_to(self, fp: int, ids: Iterable[int] | None, header: bool) -> None:
        # btf_dump's printf callback has vfprintf's ABI (context pointer, format,
        # va_list), so libc's vfprintf is passed directly with a FILE* as context:
        # the dump then runs entirely in C.
        printer = ctypes.cast(libc.vfprintf, CALLBACKS["btf_dump_printf_fn_t"])
        o = opts("btf_dump_opts")
        d = check_ptr(lib.btf_dump__new(self._ptr, printer, fp, ctypes.byref(o)),
                      "btf_dump__new", self._name)
        try:
            if header:
                _libc_fputs(_VMLINUX_HEADER.encode(), fp)
            if ids is None:
                base = lib.btf__base_btf(self._ptr)
                start = int(lib.btf__type_cnt(base)) if base else 1
                ids = range(start, len(self) + 1)
            # The hot loop (one call per type: 100k+ for vmlinux) goes through a
            # prototype-less handle, which ctypes calls faster; the return code is
            # still checked by check_int.
            dump_type = _dump_type_fast()
            handle = ctypes.c_void_p(d)
            for type_id in ids:
                ret = dump_type(handle, type_id)
                if ret < 0:
                    check_int(ret, "btf_dump__dump_type", f"type [{type_id}] of {self._name}")
                if any_pending:   # a Ctrl-C in libbpf's log callback: stop here
                    break
            if header:
                _libc_fputs(_VMLINUX_FOOTER.encode(), fp)
        finally:
            lib.btf_dump__free(d)

    def format_value(self, t: str | int | BTFType, data: bytes | bytearray | memoryview,
                     *, compact: bool = False, emit_zeroes: bool = False,
                     skip_names: bool = False, indent: str = "\t") -> str:
        """Pretty-print the bytes of a value of type ``t`` as C-like text, through
        libbpf's ``btf_dump__dump_type_data``.  Requires libbpf >= 0.5."""
        tid = self.type_id(t)
        raw = bytes(data)
        size = self.size_of(tid)
        if len(raw) < size:
            raise ValueError(f"format_value: {self.type_name(tid)} is {size} bytes, "
                             f"got {len(raw)}")
        buf = ctypes.create_string_buffer(raw, max(len(raw), 1))
        indent_b = indent.encode()
        dopts = opts("btf_dump_type_data_opts", indent_str=indent_b, compact=compact,
                     emit_zeroes=emit_zeroes, skip_names=skip_names)
        printer = ctypes.cast(libc.vfprintf, CALLBACKS["btf_dump_printf_fn_t"])
        with _MemStream() as ms:
            o = opts("btf_dump_opts")
            d = check_ptr(lib.btf_dump__new(self._ptr, printer, ms.fp, ctypes.byref(o)),
                          "btf_dump__new", self._name)
            try:
                ret = lib.btf_dump__dump_type_data(d, tid, buf, len(raw),
                                                   ctypes.byref(dopts))
            finally:
                lib.btf_dump__free(d)
        check_int(ret, "btf_dump__dump_type_data", f"type [{tid}] of {self._name}")
        return ms.text

    # -- listings ----------------------------------------------------------------------
    def describe(self, t: str | int | BTFType) -> str:
        """One type in ``bpftool btf dump`` raw text format (members on extra lines)."""
        return _describe(self, self.type(t))

    def as_dict(self, t: str | int | BTFType) -> dict[str, Any]:
        """One type as ``bpftool -j btf dump`` represents it."""
        return _as_dict(self, self.type(t))

    def __repr__(self) -> str:
        if self._closed:
            return f"<BTF {self._name} closed>"
        return f"<BTF {self._name}: {len(self)} types>"


# -- decoding ------------------------------------------------------------------------------

def _decode(p: _Parsed, type_id: int, off: int) -> BTFType:
    e = p.endian
    data = p.types
    name_off, info, size_type = struct.unpack_from(e + "III", data, off)
    kind = Kind((info >> 24) & 0x1F)
    vlen = info & 0xFFFF
    kflag = bool(info >> 31)
    t = BTFType(type_id, kind, p.string(name_off) if name_off else "", vlen, kflag)
    x = off + 12
    if kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FLOAT,
                Kind.DATASEC):
        t.size = size_type
    else:
        t.type_id = size_type
    if kind == Kind.INT:
        word = struct.unpack_from(e + "I", data, x)[0]
        t.encoding = Encoding((word >> 24) & 0x0F)
        t.bit_offset = (word >> 16) & 0xFF
        t.bits = word & 0xFF
        t.signed = bool(t.encoding & Encoding.SIGNED)
    elif kind == Kind.ARRAY:
        t.type_id, t.index_type_id, t.nelems = struct.unpack_from(e + "III", data, x)
    elif kind in (Kind.STRUCT, Kind.UNION):
        members = []
        for i in range(vlen):
            m_name, m_type, m_off = struct.unpack_from(e + "III", data, x + 12 * i)
            if kflag:
                bit_off, bf = m_off & 0xFFFFFF, m_off >> 24
            else:
                bit_off, bf = m_off, 0
            members.append(Member(p.string(m_name) if m_name else "", m_type, bit_off, bf))
        t.members = tuple(members)
    elif kind == Kind.ENUM:
        values: list[tuple[str, int]] = []
        for i in range(vlen):
            v_name, v_val = struct.unpack_from(e + "Ii", data, x + 8 * i)
            values.append((p.string(v_name), v_val))
        # kflag marks signed enums (libbpf >= 1.0 toolchains); older BTF stores every
        # value as s32, and C makes an enum signed only if a value is negative.
        t.signed = kflag or any(v < 0 for _, v in values)
        if not t.signed:
            values = [(n, v & 0xFFFFFFFF) for n, v in values]
        t.values = tuple(EnumValue(n, v) for n, v in values)
    elif kind == Kind.ENUM64:
        values64: list[EnumValue] = []
        t.signed = kflag
        for i in range(vlen):
            v_name, lo, hi = struct.unpack_from(e + "III", data, x + 12 * i)
            v = (hi << 32) | lo
            if kflag and v >= 1 << 63:
                v -= 1 << 64
            values64.append(EnumValue(p.string(v_name), v))
        t.values = tuple(values64)
    elif kind == Kind.FUNC_PROTO:
        t.params = tuple(
            Param(p.string(n) if n else "", pt)
            for n, pt in (struct.unpack_from(e + "II", data, x + 8 * i) for i in range(vlen)))
    elif kind == Kind.VAR:
        t.linkage = struct.unpack_from(e + "I", data, x)[0]
    elif kind == Kind.FUNC:
        t.linkage = vlen
    elif kind == Kind.DATASEC:
        t.vars = tuple(SecInfo(*struct.unpack_from(e + "III", data, x + 12 * i))
                       for i in range(vlen))
    elif kind == Kind.DECL_TAG:
        t.component_idx = struct.unpack_from(e + "i", data, x)[0]
    return t


def _join(base: str, suffix: str) -> str:
    if not suffix:
        return base
    return base + suffix if suffix[0] == "[" else f"{base} {suffix}"


def _c_name(btf: BTF, t: BTFType, suffix: str) -> str:
    k = t.kind
    if k == Kind.UNKN:
        return _join("void", suffix)
    if k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
        word = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
                Kind.ENUM64: "enum"}.get(k, "union" if t.kflag else "struct")
        return _join(f"{word} {t.name or '(anon)'}", suffix)
    if k in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF):
        return _join(t.name, suffix)
    if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
        word = {Kind.CONST: "const", Kind.VOLATILE: "volatile",
                Kind.RESTRICT: "restrict"}[k]
        inner = btf[t.type_id]
        if inner.kind == Kind.PTR:
            return _c_name(btf, inner, (f"{word} {suffix}").rstrip())
        return f"{word} {_c_name(btf, inner, suffix)}"
    if k == Kind.TYPE_TAG:
        return _c_name(btf, btf[t.type_id], suffix)
    if k == Kind.PTR:
        inner = btf[t.type_id]
        s = ("*" + suffix) if not suffix.startswith("[") else f"(*{suffix})"
        if inner.kind in (Kind.ARRAY, Kind.FUNC_PROTO):
            s = f"(*{suffix})"
        return _c_name(btf, inner, s)
    if k == Kind.ARRAY:
        return _c_name(btf, btf[t.type_id], f"{suffix}[{t.nelems}]")
    if k == Kind.FUNC_PROTO:
        args = ", ".join(_c_name(btf, btf[p.type_id], p.name) if p.type_id else "..."
                         for p in t.params) or "void"
        return _c_name(btf, btf[t.type_id], f"{suffix}({args})")
    if k == Kind.FUNC:
        return _c_name(btf, btf[t.type_id], t.name)
    if k == Kind.VAR:
        return _c_name(btf, btf[t.type_id], t.name)
    return f"{k.name.lower()} {t.name}".rstrip()


_INT_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGE = {0: "static", 1: "global", 2: "extern"}


def _raw_enum_value(t: BTFType, v: int) -> int:
    if t.kflag:
        return v
    return v & (0xFFFFFFFF if t.kind == Kind.ENUM else 0xFFFFFFFFFFFFFFFF)


def _as_dict(btf: BTF, t: BTFType) -> dict[str, Any]:
    k = t.kind
    d: dict[str, Any] = {"id": t.id, "kind": k.name, "name": t.name or "(anon)"}
    if k == Kind.INT:
        d.update(size=t.size, bits_offset=t.bit_offset, nr_bits=t.bits,
                 encoding=_INT_ENC.get(int(t.encoding), "UNKN"))
    elif k in (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPEDEF,
               Kind.TYPE_TAG):
        d["type_id"] = t.type_id
    elif k == Kind.ARRAY:
        d.update(type_id=t.type_id, index_type_id=t.index_type_id, nr_elems=t.nelems)
    elif k in (Kind.STRUCT, Kind.UNION):
        members = []
        for m in t.members:
            md: dict[str, Any] = {"name": m.name or "(anon)", "type_id": m.type_id,
                                  "bits_offset": m.bit_offset}
            if m.bitfield_size:
                md["bitfield_size"] = m.bitfield_size
            members.append(md)
        d.update(size=t.size, vlen=t.vlen, members=members)
    elif k in (Kind.ENUM, Kind.ENUM64):
        d.update(encoding="SIGNED" if t.kflag else "UNSIGNED", size=t.size, vlen=t.vlen,
                 values=[{"name": v.name, "val": _raw_enum_value(t, v.value)}
                         for v in t.values])
    elif k == Kind.FWD:
        d["fwd_kind"] = "union" if t.kflag else "struct"
    elif k == Kind.FUNC:
        d.update(type_id=t.type_id, linkage=_LINKAGE.get(t.linkage, "(unknown)"))
    elif k == Kind.FUNC_PROTO:
        d.update(ret_type_id=t.type_id, vlen=t.vlen,
                 params=[{"name": p.name or "(anon)", "type_id": p.type_id}
                         for p in t.params])
    elif k == Kind.VAR:
        d.update(type_id=t.type_id, linkage=_LINKAGE.get(t.linkage, "(unknown)"))
    elif k == Kind.DATASEC:
        d.update(size=t.size, vlen=t.vlen,
                 vars=[{"type_id": v.type_id, "offset": v.offset, "size": v.size}
                       for v in t.vars])
    elif k == Kind.FLOAT:
        d["size"] = t.size
    elif k == Kind.DECL_TAG:
        d.update(type_id=t.type_id, component_idx=t.component_idx)
    return d


def _describe(btf: BTF, t: BTFType) -> str:
    d = _as_dict(btf, t)
    head = f"[{t.id}] {d['kind']} '{d['name']}'"
    k = t.kind
    lines: list[str] = []
    if k == Kind.INT:
        head += (f" size={t.size} bits_offset={t.bit_offset} nr_bits={t.bits} "
                 f"encoding={d['encoding']}")
    elif k in (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPEDEF,
               Kind.TYPE_TAG):
        head += f" type_id={t.type_id}"
    elif k == Kind.ARRAY:
        head += f" type_id={t.type_id} index_type_id={t.index_type_id} nr_elems={t.nelems}"
    elif k in (Kind.STRUCT, Kind.UNION):
        head += f" size={t.size} vlen={t.vlen}"
        for m in d["members"]:
            line = f"\t'{m['name']}' type_id={m['type_id']} bits_offset={m['bits_offset']}"
            if "bitfield_size" in m:
                line += f" bitfield_size={m['bitfield_size']}"
            lines.append(line)
    elif k in (Kind.ENUM, Kind.ENUM64):
        head += f" encoding={d['encoding']} size={t.size} vlen={t.vlen}"
        suffix = "" if k == Kind.ENUM else ("LL" if t.kflag else "ULL")
        for v in d["values"]:
            lines.append(f"\t'{v['name']}' val={v['val']}{suffix}")
    elif k == Kind.FWD:
        head += f" fwd_kind={d['fwd_kind']}"
    elif k == Kind.FUNC:
        head += f" type_id={t.type_id} linkage={d['linkage']}"
    elif k == Kind.FUNC_PROTO:
        head += f" ret_type_id={t.type_id} vlen={t.vlen}"
        for p in d["params"]:
            lines.append(f"\t'{p['name']}' type_id={p['type_id']}")
    elif k == Kind.VAR:
        head += f" type_id={t.type_id}, linkage={d['linkage']}"
    elif k == Kind.DATASEC:
        head += f" size={t.size} vlen={t.vlen}"
        for v in t.vars:
            target = btf[v.type_id]
            lines.append(f"\ttype_id={v.type_id} offset={v.offset} size={v.size} "
                         f"({target.kind.name} '{target.name or '(anon)'}')")
    elif k == Kind.FLOAT:
        head += f" size={t.size}"
    elif k == Kind.DECL_TAG:
        head += f" type_id={t.type_id} component_idx={t.component_idx}"
    return "\n".join([head, *lines])


def _internal_section(m: Any) -> str | None:
    """The ELF section name (``.data``, ``.rodata.foo``...) of a global-data map."""
    obj = getattr(m, "object", None)
    if obj is None:
        return None
    name = str(m.name)
    for sec in obj.btf.types(Kind.DATASEC) if obj.btf is not None else ():
        secname = sec.name
        if not secname.startswith((".data", ".rodata", ".bss", ".kconfig")):
            continue
        with obj._use():
            ptr = lib.bpf_object__find_map_by_name(obj._ptr, secname.encode())
            if ptr and ptr == m._ptr_checked():
                return str(secname)
    # Fall back to libbpf's naming: "<object prefix><section>" truncated to 15 bytes.
    for suffix in (".rodata", ".data", ".bss", ".kconfig"):
        if suffix in name:
            return name[name.index(suffix):]
    return None


# -- libc FILE helpers ---------------------------------------------------------------------

def _cfunc(name: str, restype: Any, argtypes: list[Any]) -> Any:
    fn = getattr(libc, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_libc_fclose = _cfunc("fclose", ctypes.c_int, [ctypes.c_void_p])
_libc_fputs = _cfunc("fputs", ctypes.c_int, [ctypes.c_char_p, ctypes.c_void_p])
_libc_ferror = _cfunc("ferror", ctypes.c_int, [ctypes.c_void_p])
_libc_open_memstream = _cfunc("open_memstream", ctypes.c_void_p,
                              [ctypes.POINTER(ctypes.c_void_p),
                               ctypes.POINTER(ctypes.c_size_t)])
_libc_free = _cfunc("free", None, [ctypes.c_void_p])


_DUMP_TYPE: Any = None


def _dump_type_fast() -> Any:
    """``btf_dump__dump_type`` without argtypes (args passed as c_void_p and int)."""
    global _DUMP_TYPE
    if _DUMP_TYPE is None:
        from ._raw import library_path
        fn = ctypes.CDLL(library_path)["btf_dump__dump_type"]
        fn.restype = ctypes.c_int
        _DUMP_TYPE = fn
    return _DUMP_TYPE


class _MemStream:
    """A FILE* writing into memory (``open_memstream``); ``.text`` after the block."""

    def __enter__(self) -> _MemStream:
        self._buf = ctypes.c_void_p()
        self._len = ctypes.c_size_t()
        fp = _libc_open_memstream(ctypes.byref(self._buf), ctypes.byref(self._len))
        if not fp:
            err = ctypes.get_errno() or errno.ENOMEM
            raise OSError(err, os.strerror(err), "open_memstream")
        self.fp = int(fp)
        self.text = ""
        return self

    def __exit__(self, *exc: object) -> None:
        failed = _libc_ferror(self.fp)
        closed = _libc_fclose(self.fp)
        if self._buf.value:
            self.text = ctypes.string_at(self._buf.value, self._len.value).decode(
                "utf-8", "replace")
            _libc_free(self._buf.value)
        if (failed or closed) and exc[0] is None:
            err = ctypes.get_errno() or errno.ENOMEM
            raise OSError(err, f"writing C declarations in memory failed: "
                          f"{os.strerror(err)}")


# -- typed maps ----------------------------------------------------------------------------

def map_codec(m: Any, which: str, size: int) -> Codec | None:
    """The typed codec for a map's ``key`` or ``value`` from its object's BTF, or None
    (then raw bytes/ints are used).  Called by :func:`libbpfpy._codec.for_map`."""
    obj = getattr(m, "object", None)
    if obj is None or obj.closed:
        return None
    btf = obj.btf
    if btf is None:
        return None
    key_t, value_t = btf.map_types(m)
    t = key_t if which == "key" else value_t
    if t is None:
        return None
    try:
        codec: Codec = btf.codec(t.id)
    except (TypeError, ValueError, KeyError):
        return None
    if codec.size != size:
        return None
    return codec

