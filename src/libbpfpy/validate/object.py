"""BPF object files (ELF) checked before libbpf opens them.

What libbpf 1.1's loader takes on trust, checked here: the ELF header (64-bit,
relocatable, BPF, this machine's byte order); every section inside the file, its
name in the name table, its link and info indices valid; one symbol table whose
entries name sections that exist and lie inside them; relocations of program code at
instruction boundaries inside their section, against symbols that exist; program
code a whole number of instructions; programs' and maps' names C identifiers and
section names printable; the ``.BTF`` section (see :mod:`.btf`) and ``.BTF.ext``
(records inside their sections, section names and file/line strings in ``.BTF``'s
strings, function records pointing at FUNC types, CO-RE records at existing types
with well-formed access strings and known kinds).
"""
from __future__ import annotations

import re
import struct

from .._raw._elf import (
    SHN_LORESERVE,
    SHT_NOBITS,
    SHT_NULL,
    SHT_PROGBITS,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    ELFFile,
    Section,
    Symbol,
)
from ..errors import FormatError
from .btf import FUNC, KIND_NAMES, CheckedBTF, check_btf

__all__ = ["check_object"]

_EM_BPF = 247
_ET_REL = 1
_SHF_EXECINSTR = 0x4
_SHN_ABS, _SHN_COMMON = 0xFFF1, 0xFFF2
_STT_SECTION, _STT_FUNC, _STT_OBJECT = 3, 2, 1
_INSN = 8
_MAX_SECTION = 1 << 30          # no BPF section (code, data, bss) comes near 1 GiB
_IDENT = re.compile(rb"[A-Za-z_.][A-Za-z0-9_.]*\Z")
_SEC_NAME = re.compile(rb"[\x21-\x7e]+\Z")
_ACCESS = re.compile(rb"[0-9]{1,9}(?::[0-9]{1,9}){0,63}\Z")
_CORE_KINDS = 13                # BPF_CORE_FIELD_BYTE_OFFSET .. BPF_CORE_TYPE_MATCHES


def check_object(data: bytes, source: str) -> None:
    """Check the BPF object file ``data``; raise :class:`FormatError` naming what is
    wrong.  ``source`` names the file in messages."""
    elf = ELFFile(data, source)
    if not elf.is64:
        elf.fail("ELF header", "32-bit ELF: BPF objects are 64-bit")
    if elf.e_type != _ET_REL:
        elf.fail("ELF header", f"type {elf.e_type}: not a relocatable object (ET_REL)")
    if elf.e_machine not in (0, _EM_BPF):
        elf.fail("ELF header", f"machine {elf.e_machine}: not BPF ({_EM_BPF})")
    if elf.endian != ("<" if struct.pack("=H", 1) == b"\x01\x00" else ">"):
        elf.fail("ELF header", "byte order differs from this machine's")
    symtabs = [s for s in elf.sections if s.type == SHT_SYMTAB]
    if len(symtabs) != 1:
        elf.fail("sections", f"{len(symtabs)} symbol tables (exactly one is needed)")
    for sec in elf.sections:
        _check_section(elf, sec)
    symtab = symtabs[0]
    symbols = elf.symbols(symtab)
    for sym in symbols:
        _check_symbol(elf, sym)
    for sec in elf.sections:
        if sec.type == SHT_REL:
            _check_relocations(elf, sec, symtab, len(symbols))
    btf = None
    btf_sec = elf.by_name(b".BTF")
    if btf_sec is not None:
        if btf_sec.type != SHT_PROGBITS:
            elf.fail("section .BTF", "not PROGBITS")
        btf = check_btf(elf.contents(btf_sec), f"{source} (.BTF)")
    ext = elf.by_name(b".BTF.ext")
    if ext is not None:
        if ext.type != SHT_PROGBITS:
            elf.fail("section .BTF.ext", "not PROGBITS")
        if btf is None:
            elf.fail("section .BTF.ext", "present without a .BTF section")
        assert btf is not None
        _check_btf_ext(elf, elf.contents(ext), btf, f"{source} (.BTF.ext)")


def _check_section(elf: ELFFile, sec: Section) -> None:
    where = f"section {sec.idx} ({_show(sec.name)})"
    if sec.idx and not _SEC_NAME.match(sec.name or b"-"):
        elf.fail(where, "name is not printable")
    if sec.type == SHT_NULL:
        return
    if sec.addralign & (sec.addralign - 1):
        elf.fail(where, f"alignment {sec.addralign} is not a power of two")
    if sec.type in (SHT_PROGBITS, SHT_NOBITS) and sec.size > _MAX_SECTION:
        elf.fail(where, f"{sec.size} bytes (more than 1 GiB)")
    if sec.type == SHT_RELA:
        elf.fail(where, "RELA relocations (BPF objects use REL)")
    if sec.type == SHT_SYMTAB:
        link = elf.section(sec.link, where)
        if link.type != SHT_STRTAB:
            elf.fail(where, f"its string table (section {sec.link}) is not a string table")
    if sec.type == SHT_STRTAB and sec.size and elf.contents(sec)[-1] != 0:
        elf.fail(where, "string table does not end with a NUL")
    if sec.type == SHT_PROGBITS and sec.flags & _SHF_EXECINSTR and sec.size % _INSN:
        elf.fail(where, f"program code of {sec.size} bytes is not a whole number of "
                 f"{_INSN}-byte instructions")
    if sec.type == SHT_REL:
        if sec.entsize != 16 or sec.size % 16:
            elf.fail(where, f"relocation entry size {sec.entsize} / section size {sec.size}")
        if elf.section(sec.link, where).type != SHT_SYMTAB:
            elf.fail(where, f"linked section {sec.link} is not the symbol table")
        elf.section(sec.info, where)
    if sec.name == b"version" and sec.size != 4:
        elf.fail(where, f"{sec.size} bytes (the kernel version is 4 bytes)")


def _check_symbol(elf: ELFFile, sym: Symbol) -> None:
    where = f"symbol {sym.idx} ({_show(sym.name)})"
    if sym.idx == 0 or sym.shndx in (0, _SHN_ABS):
        return
    if sym.shndx == _SHN_COMMON:
        elf.fail(where, "a COMMON symbol (compile with -fno-common)")
    if sym.shndx >= SHN_LORESERVE:
        elf.fail(where, f"special section index {sym.shndx:#x}")
    sec = elf.section(sym.shndx, where)
    if sym.type != _STT_SECTION and (sym.value > sec.size or
                                      sym.value + sym.size > sec.size):
        elf.fail(where, f"{sym.size} bytes at {sym.value} run past section {sec.idx} "
                 f"({_show(sec.name)}, {sec.size} bytes)")
    if sec.flags & _SHF_EXECINSTR and sym.type == _STT_FUNC:
        if sym.value % _INSN or sym.size % _INSN:
            elf.fail(where, "a program that does not start and end on an instruction")
        if not _IDENT.match(sym.name):
            elf.fail(where, "a program whose name is not a C identifier")
    if sym.type == _STT_OBJECT and sym.name and not _IDENT.match(sym.name):
        elf.fail(where, "a variable or map whose name is not a C identifier")


def _check_relocations(elf: ELFFile, sec: Section, symtab: Section, nsyms: int) -> None:
    where = f"relocations {sec.idx} ({_show(sec.name)})"
    if sec.link != symtab.idx:
        elf.fail(where, f"linked to section {sec.link}, not the symbol table")
    target = elf.section(sec.info, where)
    code = bool(target.flags & _SHF_EXECINSTR)
    fmt = elf.endian + "QQ"
    for i in range(sec.size // 16):
        r_offset, r_info = struct.unpack_from(fmt, elf.data, sec.offset + 16 * i)
        sym_index = r_info >> 32
        if sym_index >= nsyms:
            elf.fail(f"{where}, entry {i}", f"symbol {sym_index} does not exist "
                     f"({nsyms} symbols)")
        if r_offset >= target.size or (code and r_offset % _INSN):
            elf.fail(f"{where}, entry {i}", f"offset {r_offset} is not an instruction "
                     f"inside section {target.idx} ({target.size} bytes)")


def _check_btf_ext(elf: ELFFile, data: bytes, btf: CheckedBTF, source: str) -> None:
    def fail(where: str, problem: str) -> None:
        raise FormatError(source, where, problem)

    e = elf.endian
    if len(data) < 24:
        fail("header", f"{len(data)} bytes, shorter than a header")
    magic, version, flags, hdr_len = struct.unpack_from(e + "HBBI", data, 0)
    if magic != 0xEB9F or version != 1 or flags:
        fail("header", f"magic {magic:#x} version {version} flags {flags:#x}")
    if hdr_len < 24 or hdr_len > len(data) or hdr_len % 4:
        fail("header", f"header length {hdr_len}")
    fields = struct.unpack_from(e + "IIII", data, 8)
    parts = [("func_info", fields[0], fields[1], 8), ("line_info", fields[2], fields[3], 16)]
    if hdr_len >= 32:
        core_off, core_len = struct.unpack_from(e + "II", data, 24)
        parts.append(("core_relo", core_off, core_len, 16))
    sections = {s.name: s for s in elf.sections if s.name}
    for what, off, length, min_rec in parts:
        if not length:
            continue
        start = hdr_len + off
        if off % 4 or start + length > len(data) or length < 4:
            fail(what, f"{length} bytes at {off} do not fit the section")
        rec_size, = struct.unpack_from(e + "I", data, start)
        if rec_size < min_rec or rec_size % 4 or rec_size > 1024:
            fail(what, f"record size {rec_size}")
        pos, end = start + 4, start + length
        while pos < end:
            if pos + 8 > end:
                fail(what, "truncated section header")
            name_off, count = struct.unpack_from(e + "II", data, pos)
            name = btf.string(name_off)
            if name is None:
                fail(what, f"section name offset {name_off} is outside .BTF's strings")
            assert name is not None
            if not count or pos + 8 + count * rec_size > end:
                fail(f"{what} of {_show(name)}", f"{count} records do not fit")
            code = sections.get(name)
            size = code.size if code is not None else 0
            for k in range(count):
                r = pos + 8 + k * rec_size
                rw = f"{what} of {_show(name)}, record {k}"
                insn_off = struct.unpack_from(e + "I", data, r)[0]
                if insn_off % _INSN or (code is not None and insn_off >= size):
                    fail(rw, f"instruction offset {insn_off} is not inside the section")
                if what == "func_info":
                    type_id = struct.unpack_from(e + "I", data, r + 4)[0]
                    if type_id >= btf.ntypes or btf.kind(type_id) != FUNC:
                        fail(rw, f"type [{type_id}] is not a FUNC")
                elif what == "line_info":
                    file_off, line_off = struct.unpack_from(e + "II", data, r + 4)
                    if btf.string(file_off) is None or btf.string(line_off) is None:
                        fail(rw, "file or line string offset is outside .BTF's strings")
                else:
                    type_id, access_off, kind = struct.unpack_from(e + "III", data, r + 4)
                    if not 0 < type_id < btf.ntypes:
                        fail(rw, f"type id {type_id} is out of range")
                    if kind >= _CORE_KINDS:
                        fail(rw, f"unknown relocation kind {kind}")
                    access = btf.string(access_off)
                    if access is None or not _ACCESS.match(access):
                        fail(rw, f"access string {access!r} is not like '0:1:2'")
                    tk = btf.kind(type_id)
                    if tk < 0 or KIND_NAMES[tk] in ("FUNC", "FUNC_PROTO", "VAR", "DATASEC",
                                                    "DECL_TAG"):
                        fail(rw, f"relocates a {KIND_NAMES[tk] if tk >= 0 else 'base'} type")
            pos += 8 + count * rec_size


def _show(name: bytes | None) -> str:
    if not name:
        return "unnamed"
    text = name[:40].decode("ascii", "backslashreplace")
    return text if text.isprintable() else repr(name[:40])
