"""Reading ELF files without binutils: symbol tables and loadable segments.

:func:`exported_functions` is what ``nm -D --defined-only`` lists as ``T``, with
the version node of each symbol (``LIBBPF_1.0.0``): the raw layer's completeness
test and ``scripts/gen_raw.py`` use it.  :func:`function_symbols` and
:func:`load_segments` serve :mod:`libbpfpy.symbolize` (addresses to names).
"""
from __future__ import annotations

import struct

__all__ = ["exported_functions", "function_symbols", "load_segments", "ELFFormatError"]

_SHT_SYMTAB = 2
_SHT_DYNSYM = 11
_PT_LOAD = 1
_SHT_GNU_VERDEF = 0x6FFFFFFD
_SHT_GNU_VERSYM = 0x6FFFFFFF
_STT_FUNC = 2
_STT_GNU_IFUNC = 10
_STB_GLOBAL = 1
_STB_WEAK = 2
_SHN_UNDEF = 0
_VERSYM_HIDDEN = 0x8000


class ELFFormatError(ValueError):
    """The file is not an ELF shared object this parser understands."""


class _ELF:
    """An ELF file's header and section headers, parsed once."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF":
            raise ELFFormatError(f"{path} is not an ELF file")
        self.path = path
        self.data = data
        self.is64 = is64 = data[4] == 2
        self.end = end = "<" if data[5] == 1 else ">"
        if is64:
            shoff, = struct.unpack_from(end + "Q", data, 0x28)
            phoff, = struct.unpack_from(end + "Q", data, 0x20)
            phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
            sh_fmt, self.sym_fmt = end + "IIQQQQIIQQ", end + "IBBHQQ"
            ph_fmt = end + "IIQQQQQQ"   # type, flags, offset, vaddr, paddr, filesz ...
        else:
            shoff, = struct.unpack_from(end + "I", data, 0x20)
            phoff, = struct.unpack_from(end + "I", data, 0x1C)
            phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
            sh_fmt, self.sym_fmt = end + "IIIIIIIIII", end + "IIIBBH"
            ph_fmt = end + "IIIIIIII"   # type, offset, vaddr, paddr, filesz ...
        # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
        self.sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize)
                         for i in range(shnum)]
        self.segments: list[tuple[int, int, int]] = []   # (offset, vaddr, filesz) of LOADs
        for i in range(phnum):
            ph = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
            if ph[0] == _PT_LOAD:
                self.segments.append((ph[2], ph[3], ph[5]) if is64 else
                                     (ph[1], ph[2], ph[4]))

    def strings(self, index: int) -> bytes:
        sec = self.sections[index]
        return self.data[sec[4]:sec[4] + sec[5]]

    def symbols(self, sh_type: int) -> list[tuple[str, int, int, int, int]]:
        """(name, value, size, info, shndx) of each symbol in the table of ``sh_type``."""
        out = []
        size = struct.calcsize(self.sym_fmt)
        for sec in self.sections:
            if sec[1] != sh_type:
                continue
            names = self.strings(sec[6])
            for i in range(sec[5] // size):
                f = struct.unpack_from(self.sym_fmt, self.data, sec[4] + i * size)
                if self.is64:
                    name_off, info, shndx, value, sz = f[0], f[1], f[3], f[4], f[5]
                else:
                    name_off, value, sz, info, shndx = f[0], f[1], f[2], f[3], f[5]
                out.append((_cstr(names, name_off), value, sz, info, shndx))
        return out


def _cstr(table: bytes, off: int) -> str:
    return table[off:table.index(b"\0", off)].decode(errors="replace")


def function_symbols(path: str) -> list[tuple[int, int, str]]:
    """(address, size, name) of every function ``path`` defines, from its full
    symbol table (.symtab) and its dynamic one, sorted by address."""
    elf = _ELF(path)
    found: dict[tuple[int, str], int] = {}
    for table in (_SHT_SYMTAB, _SHT_DYNSYM):
        for name, value, size, info, shndx in elf.symbols(table):
            if shndx != _SHN_UNDEF and value and name and \
                    info & 0xF in (_STT_FUNC, _STT_GNU_IFUNC):
                found[(value, name)] = max(size, found.get((value, name), 0))
    return sorted((addr, size, name) for (addr, name), size in found.items())


def load_segments(path: str) -> list[tuple[int, int, int]]:
    """(file offset, virtual address, size in file) of each loadable segment."""
    return _ELF(path).segments


def exported_functions(path: str) -> dict[str, str]:
    """Map each function ``path`` defines and exports to its version node ("" if none).

    Where a name is exported under several versions, the default one (``@@``) wins.
    """
    elf = _ELF(path)
    data, end, sections = elf.data, elf.end, elf.sections
    if not any(sec[1] == _SHT_DYNSYM for sec in sections):
        raise ELFFormatError(f"{path} has no dynamic symbol table")
    versym_sec = next((sec for sec in sections if sec[1] == _SHT_GNU_VERSYM), None)
    verdef_sec = next((sec for sec in sections if sec[1] == _SHT_GNU_VERDEF), None)

    # Version definitions: index -> name (first aux entry of each verdef).
    versions: dict[int, str] = {}
    if verdef_sec is not None:
        vstr = elf.strings(verdef_sec[6])
        off = verdef_sec[4]
        for _ in range(verdef_sec[7]):  # sh_info = number of entries
            _vd_version, _flags, ndx, _cnt, _hash, aux, nxt = struct.unpack_from(
                end + "HHHHIII", data, off)
            name_off, = struct.unpack_from(end + "I", data, off + aux)
            versions[ndx] = _cstr(vstr, name_off)
            if not nxt:
                break
            off += nxt

    found: dict[str, str] = {}
    for i, (name, _value, _size, info, shndx) in enumerate(elf.symbols(_SHT_DYNSYM)):
        stype, bind = info & 0xF, info >> 4
        if shndx == _SHN_UNDEF or stype not in (_STT_FUNC, _STT_GNU_IFUNC) \
                or bind not in (_STB_GLOBAL, _STB_WEAK):
            continue
        node = ""
        hidden = False
        if versym_sec is not None:
            vs, = struct.unpack_from(end + "H", data, versym_sec[4] + 2 * i)
            hidden = bool(vs & _VERSYM_HIDDEN)
            node = versions.get(vs & 0x7FFF, "")
        if name not in found or not hidden:
            found[name] = node
    return found
