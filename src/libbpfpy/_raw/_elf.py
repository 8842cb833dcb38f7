"""A small, bounds-checked ELF reader: section headers, string tables, symbols,
loadable segments -- without binutils.

Its users: :func:`exported_functions` is what ``nm -D --defined-only`` lists as ``T``,
with the version node of each symbol (``LIBBPF_1.0.0``), for the raw layer's
completeness test and ``scripts/gen_raw.py``; :func:`function_symbols` and
:func:`load_segments` serve :mod:`libbpfpy.symbolize` (addresses to names); and
:mod:`libbpfpy.validate` checks BPF object files before libbpf sees them.  Every
offset and size is checked against the file: a malformed file raises
:class:`ELFFormatError` naming what is wrong, never an IndexError or a struct.error.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from ..errors import FormatError

__all__ = ["exported_functions", "function_symbols", "load_segments", "ELFFile", "Section",
           "Symbol", "ELFFormatError"]

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOBITS, SHT_REL, SHT_DYNSYM = 8, 9, 11
_SHT_GNU_VERDEF = 0x6FFFFFFD
_SHT_GNU_VERSYM = 0x6FFFFFFF
_STT_FUNC = 2
_STT_GNU_IFUNC = 10
_STB_GLOBAL = 1
_STB_WEAK = 2
_SHN_UNDEF = 0
_VERSYM_HIDDEN = 0x8000
_PT_LOAD = 1
SHN_LORESERVE = 0xFF00


class ELFFormatError(FormatError):
    """The file is not an ELF file this reader understands, or is malformed."""


class Section(NamedTuple):
    """A section header (``Elf*_Shdr``) and its index and name."""

    idx: int
    name: bytes
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


class Symbol(NamedTuple):
    """A symbol table entry (``Elf*_Sym``) and its index and name."""

    idx: int
    name: bytes
    info: int
    other: int
    shndx: int
    value: int
    size: int

    @property
    def type(self) -> int:
        return self.info & 0xF

    @property
    def bind(self) -> int:
        return self.info >> 4


class ELFFile:
    """The section headers of an ELF file held in memory, checked against its size."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        if len(data) < 16 or data[:4] != b"\x7fELF":
            self.fail("", "not an ELF file (bad magic)")
        if data[4] not in (1, 2) or data[5] not in (1, 2):
            self.fail("ELF header", f"unknown class {data[4]} or data encoding {data[5]}")
        self.is64 = data[4] == 2
        self.endian = "<" if data[5] == 1 else ">"
        e = self.endian
        if self.is64:
            hdr = self.unpack(e + "HHIQQQIHHHHHH", 16, "ELF header")
            (self.e_type, self.e_machine, _v, _entry, self.phoff, self.shoff, _flags,
             ehsize, self.phentsize, self.phnum, self.shentsize, self.shnum,
             self.shstrndx) = hdr
            sh_fmt, self._sym_fmt = e + "IIQQQQIIQQ", e + "IBBHQQ"
            self._ph_fmt = e + "IIQQQQQQ"   # type, flags, offset, vaddr, paddr, filesz...
        else:
            hdr = self.unpack(e + "HHIIIIIHHHHHH", 16, "ELF header")
            (self.e_type, self.e_machine, _v, _entry, self.phoff, self.shoff, _flags,
             ehsize, self.phentsize, self.phnum, self.shentsize, self.shnum,
             self.shstrndx) = hdr
            sh_fmt, self._sym_fmt = e + "IIIIIIIIII", e + "IIIBBH"
            self._ph_fmt = e + "IIIIIIII"   # type, offset, vaddr, paddr, filesz...
        self.sections: list[Section] = []
        if self.shnum == 0 and self.shoff == 0:
            return       # no section headers (some executables): segments only
        if self.shentsize != struct.calcsize(sh_fmt):
            self.fail("ELF header", f"section header size {self.shentsize}, expected "
                      f"{struct.calcsize(sh_fmt)}")
        if self.shnum == 0 or self.shstrndx >= SHN_LORESERVE:
            self.fail("ELF header", "extended section numbering is not supported "
                      f"(e_shnum {self.shnum}, e_shstrndx {self.shstrndx:#x})")
        self.within(self.shoff, self.shnum * self.shentsize, "section header table")
        raw = [struct.unpack_from(sh_fmt, data, self.shoff + i * self.shentsize)
               for i in range(self.shnum)]
        if self.shstrndx >= self.shnum:
            self.fail("ELF header", f"section name table index {self.shstrndx} is out of "
                      f"range ({self.shnum} sections)")
        names = raw[self.shstrndx]
        if names[1] != SHT_STRTAB:
            self.fail(f"section {self.shstrndx}", "the section name table is not a "
                      "string table")
        self._check_bounds(self.shstrndx, names[1], names[4], names[5])
        for i, r in enumerate(raw):
            name, stype, flags, addr, off, size, link, info, align, entsize = r
            self._check_bounds(i, stype, off, size)
            sname = self._cstring(names[4], names[5], name, f"section {i}", "name")
            self.sections.append(Section(i, sname, stype, flags, addr, off, size, link,
                                         info, align, entsize))

    # -- checks ---------------------------------------------------------------------
    def fail(self, where: str, problem: str) -> None:
        raise ELFFormatError(self.source, where, problem)

    def within(self, off: int, size: int, what: str) -> None:
        if off < 0 or size < 0 or off + size > len(self.data):
            self.fail(what, f"{size} bytes at offset {off} run past the end of the file "
                      f"({len(self.data)} bytes)")

    def unpack(self, fmt: str, off: int, what: str) -> tuple[int, ...]:
        self.within(off, struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.data, off)

    def _check_bounds(self, index: int, stype: int, off: int, size: int) -> None:
        if stype not in (SHT_NULL, SHT_NOBITS):
            self.within(off, size, f"section {index}")

    def _cstring(self, table_off: int, table_size: int, off: int, where: str,
                 what: str) -> bytes:
        if off >= table_size:
            if off == 0 and table_size == 0:
                return b""
            self.fail(where, f"{what} offset {off} is outside its string table "
                      f"({table_size} bytes)")
        end = self.data.find(b"\0", table_off + off, table_off + table_size)
        if end < 0:
            self.fail(where, f"{what} at offset {off} is not NUL-terminated")
        return self.data[table_off + off:end]

    # -- access ---------------------------------------------------------------------
    def section(self, index: int, where: str) -> Section:
        """Section ``index``, or an error naming ``where`` the index came from."""
        if not 0 <= index < len(self.sections):
            self.fail(where, f"section index {index} is out of range "
                      f"({len(self.sections)} sections)")
        return self.sections[index]

    def by_name(self, name: bytes) -> Section | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def contents(self, sec: Section) -> bytes:
        """The bytes of a section (empty for SHT_NOBITS)."""
        if sec.type in (SHT_NULL, SHT_NOBITS):
            return b""
        return self.data[sec.offset:sec.offset + sec.size]

    def string(self, table: Section, off: int, where: str, what: str = "name") -> bytes:
        """The NUL-terminated string at ``off`` in the string table ``table``."""
        if table.type != SHT_STRTAB:
            self.fail(where, f"{what}: section {table.idx} is not a string table")
        return self._cstring(table.offset, table.size, off, where, what)

    def segments(self) -> list[tuple[int, int, int]]:
        """(file offset, virtual address, size in file) of each loadable segment."""
        if not self.phnum:
            return []
        size = struct.calcsize(self._ph_fmt)
        if self.phentsize != size:
            self.fail("ELF header", f"program header size {self.phentsize}, expected {size}")
        self.within(self.phoff, self.phnum * size, "program header table")
        out = []
        for i in range(self.phnum):
            ph = struct.unpack_from(self._ph_fmt, self.data, self.phoff + i * size)
            if ph[0] == _PT_LOAD:
                out.append((ph[2], ph[3], ph[5]) if self.is64 else (ph[1], ph[2], ph[4]))
        return out

    def symbols(self, symtab: Section) -> list[Symbol]:
        """The entries of a symbol table, their names read from its linked table."""
        entsize = struct.calcsize(self._sym_fmt)
        where = f"symbol table (section {symtab.idx})"
        if symtab.entsize != entsize or symtab.size % entsize:
            self.fail(where, f"entry size {symtab.entsize} / table size {symtab.size} do "
                      f"not match {entsize}-byte symbols")
        strtab = self.section(symtab.link, where)
        out = []
        for i in range(symtab.size // entsize):
            fields = struct.unpack_from(self._sym_fmt, self.data, symtab.offset + i * entsize)
            if self.is64:
                name_off, info, other, shndx, value, size = fields
            else:
                name_off, value, size, info, other, shndx = fields
            name = self.string(strtab, name_off, f"symbol {i}") if name_off else b""
            out.append(Symbol(i, name, info, other, shndx, value, size))
        return out


def _read(path: str) -> ELFFile:
    with open(path, "rb") as f:
        return ELFFile(f.read(), path)


def function_symbols(path: str) -> list[tuple[int, int, str]]:
    """(address, size, name) of every function ``path`` defines, from its full
    symbol table (.symtab) and its dynamic one, sorted by address."""
    elf = _read(path)
    found: dict[tuple[int, str], int] = {}
    for sec in elf.sections:
        if sec.type not in (SHT_SYMTAB, SHT_DYNSYM):
            continue
        for sym in elf.symbols(sec):
            if sym.shndx != _SHN_UNDEF and sym.value and sym.name and \
                    sym.type in (_STT_FUNC, _STT_GNU_IFUNC):
                key = (sym.value, sym.name.decode(errors="replace"))
                found[key] = max(sym.size, found.get(key, 0))
    return sorted((addr, size, name) for (addr, name), size in found.items())


def load_segments(path: str) -> list[tuple[int, int, int]]:
    """(file offset, virtual address, size in file) of each loadable segment."""
    return _read(path).segments()


def exported_functions(path: str) -> dict[str, str]:
    """Map each function ``path`` defines and exports to its version node ("" if none).

    Where a name is exported under several versions, the default one (``@@``) wins.
    """
    elf = _read(path)
    dynsym = next((s for s in elf.sections if s.type == SHT_DYNSYM), None)
    if dynsym is None:
        raise ELFFormatError(path, "", "no dynamic symbol table")
    versym_sec = next((s for s in elf.sections if s.type == _SHT_GNU_VERSYM), None)
    verdef_sec = next((s for s in elf.sections if s.type == _SHT_GNU_VERDEF), None)
    e = elf.endian

    # Version definitions: index -> name (first aux entry of each verdef).
    versions: dict[int, str] = {}
    if verdef_sec is not None:
        vstr = elf.section(verdef_sec.link, "version definitions")
        off = verdef_sec.offset
        for _ in range(verdef_sec.info):  # sh_info = number of entries
            _vd_version, _flags, ndx, _cnt, _hash, aux, nxt = elf.unpack(
                e + "HHHHIII", off, "version definition")
            name_off, = elf.unpack(e + "I", off + aux, "version definition aux")
            versions[ndx] = elf.string(vstr, name_off, "version definition").decode()
            if not nxt:
                break
            off += nxt

    found: dict[str, str] = {}
    for sym in elf.symbols(dynsym):
        if sym.shndx == _SHN_UNDEF or sym.type not in (_STT_FUNC, _STT_GNU_IFUNC) \
                or sym.bind not in (_STB_GLOBAL, _STB_WEAK):
            continue
        name = sym.name.decode()
        node = ""
        hidden = False
        if versym_sec is not None:
            vs, = elf.unpack(e + "H", versym_sec.offset + 2 * sym.idx, "version symbol")
            hidden = bool(vs & _VERSYM_HIDDEN)
            node = versions.get(vs & 0x7FFF, "")
        if name not in found or not hidden:
            found[name] = node
    return found
