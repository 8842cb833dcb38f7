"""The exported functions of a shared library, read from its ELF dynamic symbol table.

What ``nm -D --defined-only`` lists as ``T``, with the version node of each symbol
(``LIBBPF_1.0.0``), without needing binutils: the raw layer's completeness test and
``scripts/gen_raw.py`` both use it.
"""
from __future__ import annotations

import struct

__all__ = ["exported_functions"]

_SHT_DYNSYM = 11
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


def exported_functions(path: str) -> dict[str, str]:
    """Map each function ``path`` defines and exports to its version node ("" if none).

    Where a name is exported under several versions, the default one (``@@``) wins.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise ELFFormatError(f"{path} is not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
        sh_fmt, sym_fmt = end + "IIQQQQIIQQ", end + "IBBHQQ"
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
        sh_fmt, sym_fmt = end + "IIIIIIIIII", end + "IIIBBH"
    sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
    del shstrndx

    def strings(index: int) -> bytes:
        sec = sections[index]
        return data[sec[4]:sec[4] + sec[5]]

    def cstr(table: bytes, off: int) -> str:
        return table[off:table.index(b"\0", off)].decode()

    dynsym = next((s for s in sections if s[1] == _SHT_DYNSYM), None)
    if dynsym is None:
        raise ELFFormatError(f"{path} has no dynamic symbol table")
    dynstr = strings(dynsym[6])
    versym_sec = next((s for s in sections if s[1] == _SHT_GNU_VERSYM), None)
    verdef_sec = next((s for s in sections if s[1] == _SHT_GNU_VERDEF), None)

    # Version definitions: index -> name (first aux entry of each verdef).
    versions: dict[int, str] = {}
    if verdef_sec is not None:
        vstr = strings(verdef_sec[6])
        off = verdef_sec[4]
        for _ in range(verdef_sec[7]):  # sh_info = number of entries
            _vd_version, _flags, ndx, _cnt, _hash, aux, nxt = struct.unpack_from(
                end + "HHHHIII", data, off)
            name_off, = struct.unpack_from(end + "I", data, off + aux)
            versions[ndx] = cstr(vstr, name_off)
            if not nxt:
                break
            off += nxt

    symsize = struct.calcsize(sym_fmt)
    count = dynsym[5] // symsize
    found: dict[str, str] = {}
    for i in range(count):
        fields = struct.unpack_from(sym_fmt, data, dynsym[4] + i * symsize)
        if is64:
            name_off, info, _other, shndx = fields[0], fields[1], fields[2], fields[3]
        else:
            name_off, info, _other, shndx = fields[0], fields[3], fields[4], fields[5]
        stype, bind = info & 0xF, info >> 4
        if shndx == _SHN_UNDEF or stype not in (_STT_FUNC, _STT_GNU_IFUNC) \
                or bind not in (_STB_GLOBAL, _STB_WEAK):
            continue
        name = cstr(dynstr, name_off)
        node = ""
        hidden = False
        if versym_sec is not None:
            vs, = struct.unpack_from(end + "H", data, versym_sec[4] + 2 * i)
            hidden = bool(vs & _VERSYM_HIDDEN)
            node = versions.get(vs & 0x7FFF, "")
        if name not in found or not hidden:
            found[name] = node
    return found
