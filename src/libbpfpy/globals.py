"""Global variables of a BPF object (``obj.globals``): ``.rodata``, ``.data``, ``.bss``
and their named subsections (``.data.foo``, ``.rodata.bar``), by variable name.

    obj = Object.open("prog.bpf.o")
    obj.globals["target_pid"] = 1234      # before load: the initial value
    obj.load()
    obj.globals["hits"]                   # after load: read live from the map
    obj.globals["hits"] = 0               # .data/.bss: written live

Values are typed from BTF (see :meth:`libbpfpy.BTF.codec`): ints, bools, enums,
``bytes`` for ``char`` arrays, lists for other arrays, ctypes structures for
structs (copies: assign the whole struct, or a dict/tuple, to change it).

Before load the values live in libbpf's copy of each section (what load() writes
into the maps).  After load, ``.data``/``.bss`` are read and written through an
``mmap`` of the map (libbpf makes global-data maps ``BPF_F_MMAPABLE`` on Linux >= 5.5;
on older kernels, through map lookups/updates), and ``.rodata`` is frozen: reading works,
writing raises :class:`~libbpfpy.BPFError` (``EROFS``) naming the section.
"""
from __future__ import annotations

import ctypes
import errno
import mmap
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._lifetime import Owner, guarded
from ._raw import lib
from .errors import BPFError, error_for

if TYPE_CHECKING:
    from ._codec import Codec
    from .btf import BTFType
    from .map import Map
    from .object import Object

__all__ = ["Globals", "GlobalVar", "SECTION_PREFIXES"]

#: ELF sections whose variables are globals (each with optional ".name" suffix).
SECTION_PREFIXES = (".rodata", ".data", ".bss")
_F_MMAPABLE = 1 << 10
_F_RDONLY_PROG = 1 << 7


class GlobalVar(NamedTuple):
    """Where a global variable lives and what type it has."""

    name: str
    section: str
    offset: int
    size: int
    type: BTFType
    map: Map

    @property
    def read_only(self) -> bool:
        """Whether it is in a ``.rodata`` section (constant once loaded)."""
        return self.section.startswith(".rodata")


def _is_global_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in SECTION_PREFIXES)


class _Section:
    """Access to one global-data map's bytes, before or after load."""

    def __init__(self, name: str, m: Map) -> None:
        self.name = name
        self.map = m
        self.read_only = name.startswith(".rodata")
        self.mm: mmap.mmap | None = None
        self.no_mmap = False

    def _initial(self) -> tuple[int, int]:
        size = ctypes.c_size_t()
        ptr = lib.bpf_map__initial_value(self.map._ptr_checked(), ctypes.byref(size))
        if not ptr:
            raise BPFError(errno.EINVAL, f"section {self.name} has no initial value "
                           "in libbpf", call="bpf_map__initial_value", target=self.name)
        return int(ptr), size.value

    def _mapped(self) -> mmap.mmap | None:
        if self.mm is not None or self.no_mmap:
            return self.mm
        m = self.map
        if not int(m.flags) & _F_MMAPABLE:
            self.no_mmap = True
            return None
        length = (m.value_size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        prot = mmap.PROT_READ if self.read_only else mmap.PROT_READ | mmap.PROT_WRITE
        try:
            self.mm = mmap.mmap(m.fd, length, mmap.MAP_SHARED, prot)
        except OSError as exc:
            raise error_for(exc.errno or errno.EINVAL,
                            f"mmap of global-data map {m.name!r} ({self.name}) failed: "
                            f"{exc.strerror}", call="mmap", target=m.name) from None
        return self.mm

    def read(self, loaded: bool, offset: int, size: int) -> bytes:
        if not loaded:
            ptr, total = self._initial()
            return ctypes.string_at(ptr + offset, min(size, max(total - offset, 0)))
        mm = self._mapped()
        if mm is not None:
            return mm[offset:offset + size]
        return self._lookup()[offset:offset + size]

    def write(self, loaded: bool, offset: int, data: bytes, var: str) -> None:
        if not loaded:
            ptr, total = self._initial()
            if offset + len(data) > total:
                raise BPFError(errno.EINVAL, f"global {var!r} lies beyond section "
                               f"{self.name} ({total} bytes)", target=self.name)
            ctypes.memmove(ptr + offset, data, len(data))
            return
        if self.read_only:
            raise BPFError(errno.EROFS, f"global {var!r} is in {self.name}, which is "
                           "read-only once the object is loaded (set it before load(), "
                           "or make it non-const to change it at run time)",
                           call="write", target=self.name)
        mm = self._mapped()
        if mm is not None:
            mm[offset:offset + len(data)] = data
            return
        value = bytearray(self._lookup())
        value[offset:offset + len(data)] = data
        self.map.update(0, bytes(value))

    def _lookup(self) -> bytes:
        value = self.map.lookup(0)
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return bytes(value)

    def close(self) -> None:
        if self.mm is not None:
            self.mm.close()
            self.mm = None


@guarded()
class Globals(Owner, MutableMapping[str, Any]):
    """The global variables of an :class:`~libbpfpy.Object`, by name.

    A ``MutableMapping``: ``g[name]`` reads a typed value, ``g[name] = value`` writes
    one (before load: the initial value; after load: live, except ``.rodata``).
    Variables cannot be deleted.  Closed (reads raise ClosedError) with its object.
    """

    _kind = "globals"

    def __init__(self, obj: Object) -> None:
        super().__init__()
        self._obj = obj
        self._vars: dict[str, GlobalVar] | None = None
        self._sections: dict[str, _Section] = {}
        self._codecs: dict[str, Codec] = {}
        obj._adopt(self)

    def _describe(self) -> str:
        return f"globals of {self._obj._describe()}"

    def _release(self) -> None:
        for sec in self._sections.values():
            sec.close()
        self._sections.clear()

    def _index(self) -> dict[str, GlobalVar]:
        self._check()
        if self._vars is not None:
            return self._vars
        obj = self._obj
        found: dict[str, GlobalVar] = {}
        btf = obj.btf
        if btf is not None:
            by_ptr = {m._ptr_checked(): m for m in obj.maps.values() if m.is_internal}
            for var in btf.variables():
                if not _is_global_section(var.section):
                    continue
                sec = self._sections.get(var.section)
                if sec is None:
                    ptr = lib.bpf_object__find_map_by_name(obj._ptr, var.section.encode())
                    m = by_ptr.get(ptr) if ptr else None
                    if m is None:
                        continue
                    sec = self._sections[var.section] = _Section(var.section, m)
                if var.name in found:
                    continue  # two statics of one name: the first wins
                found[var.name] = GlobalVar(var.name, var.section, var.offset, var.size,
                                            btf[var.type_id], sec.map)
        self._vars = found
        return found

    def info(self, name: str) -> GlobalVar:
        """Section, offset, size, BTF type and map of the global ``name``."""
        try:
            return self._index()[name]
        except KeyError:
            names = ", ".join(self._index()) or "none"
            raise KeyError(f"{self._obj._describe()} has no global variable {name!r} "
                           f"(it has: {names})") from None

    def sections(self) -> dict[str, list[str]]:
        """Variable names by section (``{".rodata": ["target_pid"], ...}``)."""
        out: dict[str, list[str]] = {}
        for v in self._index().values():
            out.setdefault(v.section, []).append(v.name)
        return out

    def _codec(self, var: GlobalVar) -> Codec:
        codec = self._codecs.get(var.name)
        if codec is None:
            codec = self._obj.btf.codec(var.type.id)
            self._codecs[var.name] = codec
        return codec

    def read_bytes(self, name: str) -> bytes:
        """The raw bytes of the global ``name``."""
        var = self.info(name)
        return self._sections[var.section].read(self._obj._maps_created, var.offset, var.size)

    def __getitem__(self, name: str) -> Any:
        var = self.info(name)
        data = self._sections[var.section].read(self._obj._maps_created, var.offset, var.size)
        codec = self._codec(var)
        if len(data) != codec.size:
            data = data.ljust(codec.size, b"\0")[:codec.size]
        return codec.decode(data)

    def __setitem__(self, name: str, value: Any) -> None:
        var = self.info(name)
        codec = self._codec(var)
        try:
            data = codec.encode(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"global {name!r} ({self._obj.btf.type_name(var.type)}): "
                            f"{exc}") from None
        self._sections[var.section].write(self._obj._maps_created, var.offset, data[:var.size],
                                          name)

    def __delitem__(self, name: str) -> None:
        raise TypeError(f"global variable {name!r} cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __contains__(self, name: object) -> bool:
        return name in self._index()

    def __repr__(self) -> str:
        if self._closed:
            return f"<Globals of {self._obj.name!r} closed>"
        return f"<Globals of {self._obj.name!r}: {', '.join(self._index())}>"
