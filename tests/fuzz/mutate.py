"""Structure-aware mutations of BPF object files (ELF) and raw BTF blobs.

Each mutation is a pure function of the input bytes and a ``random.Random``, so a
case is reproduced from (fixture, seed, index) alone.  Mutations aim where parsers
trust the input: ELF header and section header fields, symbol and relocation
entries, the ``.BTF``/``.BTF.ext`` sections and their type records, string tables,
plus plain byte flips and truncation.
"""
from __future__ import annotations

import random
import struct
from collections.abc import Callable

__all__ = ["mutate_object", "mutate_btf", "btf_section"]

INTERESTING32 = (0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256,
                 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE,
                 0xFFFFFFFF, 0x00FFFFFF, 0x01000000)
INTERESTING64 = INTERESTING32 + (0x7FFFFFFFFFFFFFFF, 0x8000000000000000,
                                 0xFFFFFFFFFFFFFFFF, 0x100000000)


def _value(rng: random.Random, width: int, current: int) -> int:
    choice = rng.random()
    mask = (1 << (8 * width)) - 1
    if choice < 0.45:
        return rng.choice(INTERESTING64 if width == 8 else INTERESTING32) & mask
    if choice < 0.7:
        return (current + rng.choice((-1, 1, -8, 8, 4096, -4096, 0x100, 1 << 20))) & mask
    if choice < 0.85:
        return rng.randrange(0, 64)
    return rng.getrandbits(8 * width)


def _put(buf: bytearray, off: int, width: int, rng: random.Random) -> None:
    if off < 0 or off + width > len(buf):
        return
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[width]
    cur, = struct.unpack_from(fmt, buf, off)
    struct.pack_into(fmt, buf, off, _value(rng, width, cur))


# -- ELF layout -------------------------------------------------------------------------

class _Elf:
    """Where the interesting parts of a little-endian ELF64 file are."""

    def __init__(self, data: bytes) -> None:
        self.ok = len(data) >= 64 and data[:4] == b"\x7fELF" and data[4] == 2
        self.sections: list[tuple[int, int, int, int, int, int, int, int, int, int]] = []
        self.names: list[bytes] = []
        if not self.ok:
            return
        try:
            self.shoff, = struct.unpack_from("<Q", data, 0x28)
            self.shentsize, self.shnum, self.shstrndx = struct.unpack_from("<HHH", data, 0x3A)
            if self.shoff + self.shnum * 64 > len(data):
                raise ValueError("section headers past the end")
            for i in range(self.shnum):
                self.sections.append(struct.unpack_from("<IIQQQQIIQQ", data,
                                                        self.shoff + i * 64))
            strtab = self.sections[self.shstrndx]
            strs = data[strtab[4]:strtab[4] + strtab[5]]
            for s in self.sections:
                end = strs.find(b"\0", s[0])
                self.names.append(strs[s[0]:end] if end >= 0 else b"")
        except (struct.error, IndexError, OverflowError, ValueError):
            self.ok = False
            self.sections = []
            self.names = []

    def by_type(self, sh_type: int) -> list[int]:
        return [i for i, s in enumerate(self.sections) if s[1] == sh_type]

    def by_name(self, name: bytes) -> int | None:
        for i, n in enumerate(self.names):
            if n == name:
                return i
        return None


_SHDR_FIELDS = ((0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4),
                (48, 8), (56, 8))
_EHDR_FIELDS = ((4, 1), (5, 1), (16, 2), (18, 2), (0x28, 8), (0x34, 2), (0x3A, 2),
                (0x3C, 2), (0x3E, 2))
_SYM_FIELDS = ((0, 4), (4, 1), (5, 1), (6, 2), (8, 8), (16, 8))
_REL_FIELDS = ((0, 8), (8, 4), (12, 4), (16, 8))


def _m_bytes(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    for _ in range(rng.randint(1, 8)):
        if buf:
            buf[rng.randrange(len(buf))] = rng.getrandbits(8)


def _m_ehdr(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    off, width = rng.choice(_EHDR_FIELDS)
    _put(buf, off, width, rng)


def _m_shdr(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    if not elf.sections:
        return _m_bytes(buf, rng, elf)
    i = rng.randrange(len(elf.sections))
    off, width = rng.choice(_SHDR_FIELDS)
    _put(buf, elf.shoff + i * 64 + off, width, rng)


def _entry(elf: _Elf, buf: bytearray, sh_type: int, entsize: int,
           rng: random.Random) -> int | None:
    """The offset of a random entry of a random table of ``sh_type`` (tables that a
    previous mutation pushed out of the file are skipped)."""
    tables = []
    for i in elf.by_type(sh_type):
        s = elf.sections[i]
        n = min(s[5], max(len(buf) - s[4], 0)) // entsize
        if n:
            tables.append((s[4], n))
    if not tables:
        return None
    start, n = rng.choice(tables)
    return start + rng.randrange(n) * entsize


def _m_sym(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    at = _entry(elf, buf, 2, 24, rng)
    if at is None:
        return _m_shdr(buf, rng, elf)
    off, width = rng.choice(_SYM_FIELDS)
    _put(buf, at + off, width, rng)


def _m_rel(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    at = _entry(elf, buf, 9, 16, rng)
    if at is None:
        return _m_sym(buf, rng, elf)
    off, width = rng.choice(_REL_FIELDS[:3])
    _put(buf, at + off, width, rng)


def _section_range(elf: _Elf, name: bytes) -> tuple[int, int] | None:
    i = elf.by_name(name)
    if i is None:
        return None
    s = elf.sections[i]
    return s[4], s[5]


def _m_btf_in_elf(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    where = _section_range(elf, b".BTF")
    if where is None:
        return _m_bytes(buf, rng, elf)
    off, size = where
    size = min(size, max(len(buf) - off, 0))   # a previous round may have moved it
    if not size:
        return _m_bytes(buf, rng, elf)
    blob = bytearray(buf[off:off + size])
    mutated = mutate_btf(bytes(blob), rng, rounds=1)
    # Same length keeps the rest of the file intact; longer/shorter is the bytes case.
    mutated = (mutated + bytes(size))[:size]
    buf[off:off + size] = mutated


def _m_btf_ext(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    where = _section_range(elf, b".BTF.ext")
    if where is None:
        return _m_bytes(buf, rng, elf)
    off, size = where
    if size >= 4:
        _put(buf, off + rng.randrange(size // 4) * 4, 4, rng)


def _m_data_section(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    cands = [i for i, n in enumerate(elf.names)
             if n.startswith((b".maps", b"maps", b".rodata", b".data", b".bss",
                              b"license", b"version", b".kconfig"))
             or elf.sections[i][2] & 0x4]  # SHF_EXECINSTR: program code
    if not cands:
        return _m_bytes(buf, rng, elf)
    s = elf.sections[rng.choice(cands)]
    if s[5] >= 4 and s[1] != 8:  # not NOBITS
        _put(buf, s[4] + rng.randrange(s[5] // 4) * 4, rng.choice((1, 4)), rng)


def _m_strings(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    tabs = elf.by_type(3)
    if not tabs:
        return _m_bytes(buf, rng, elf)
    s = elf.sections[rng.choice(tabs)]
    for _ in range(rng.randint(1, 4)):
        if s[5]:
            pos = s[4] + rng.randrange(s[5])
            if pos < len(buf):
                buf[pos] = rng.choice((0, 0xFF, 0x80, 0xC3, ord("/"), ord("."),
                                       rng.getrandbits(8)))


def _m_truncate(buf: bytearray, rng: random.Random, elf: _Elf) -> None:
    if len(buf) > 1:
        del buf[rng.randrange(1, len(buf)):]


_ELF_MUTATORS: list[tuple[float, Callable[[bytearray, random.Random, _Elf], None]]] = [
    (1.0, _m_bytes), (0.6, _m_ehdr), (2.0, _m_shdr), (1.5, _m_sym), (1.5, _m_rel),
    (2.5, _m_btf_in_elf), (1.0, _m_btf_ext), (1.5, _m_data_section), (1.0, _m_strings),
    (0.2, _m_truncate),
]


def mutate_object(data: bytes, rng: random.Random) -> bytes:
    """A mutated copy of the BPF object file ``data`` (1 to 4 mutations)."""
    buf = bytearray(data)
    weights = [w for w, _ in _ELF_MUTATORS]
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        elf = _Elf(bytes(buf))
        fn = rng.choices([f for _, f in _ELF_MUTATORS], weights)[0]
        fn(buf, rng, elf)
    return bytes(buf)


# -- BTF ----------------------------------------------------------------------------------

def btf_section(data: bytes) -> bytes | None:
    """The ``.BTF`` section of an ELF object, or None."""
    elf = _Elf(data)
    where = _section_range(elf, b".BTF") if elf.ok else None
    return None if where is None else data[where[0]:where[0] + where[1]]


_EXTRA_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}
_EXTRA_PER_VLEN = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


def _btf_records(data: bytes) -> tuple[int, list[int]]:
    """(start of the type section, offset of each type record in the blob)."""
    try:
        hdr_len, type_off, type_len = struct.unpack_from("<III", data, 4)
    except struct.error:
        return 0, []
    start = hdr_len + type_off
    end = min(start + type_len, len(data))
    offs = []
    off = start
    while off + 12 <= end and len(offs) < 100000:
        offs.append(off)
        info, = struct.unpack_from("<I", data, off + 4)
        kind = (info >> 24) & 0x1F
        off += 12 + _EXTRA_FIXED.get(kind, 0) + _EXTRA_PER_VLEN.get(kind, 0) * (info & 0xFFFF)
    return start, offs


def _b_word(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    if not offs:
        return _b_bytes(buf, rng, offs)
    rec = rng.choice(offs)
    # a word of the record or of what follows it (members, params, array info...)
    _put(buf, rec + 4 * rng.randrange(6), 4, rng)


def _b_info(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    if not offs:
        return _b_bytes(buf, rng, offs)
    rec = rng.choice(offs) + 4
    if rec + 4 > len(buf):
        return
    info, = struct.unpack_from("<I", buf, rec)
    part = rng.randrange(3)
    if part == 0:    # kind
        info = (info & ~(0x1F << 24)) | (rng.randrange(32) << 24)
    elif part == 1:  # vlen
        info = (info & ~0xFFFF) | rng.choice((0, 1, 2, 3, 0xFFFF, rng.randrange(64)))
    else:            # kflag
        info ^= 1 << 31
    struct.pack_into("<I", buf, rec, info)


def _b_type_ref(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    """Point a type reference at another (possibly itself, or out of range)."""
    if not offs:
        return _b_bytes(buf, rng, offs)
    i = rng.randrange(len(offs))
    rec = offs[i]
    target = rng.choice((0, i + 1, i, i + 2, len(offs), len(offs) + 1, rng.randrange(
        len(offs) + 1), 0xFFFFFFFF))
    field = rng.choice((8, 12, 16, 20, 24))
    if rec + field + 4 <= len(buf):
        struct.pack_into("<I", buf, rec + field, target & 0xFFFFFFFF)


def _b_header(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    off, width = rng.choice(((0, 2), (2, 1), (3, 1), (4, 4), (8, 4), (12, 4), (16, 4),
                             (20, 4)))
    _put(buf, off, width, rng)


def _b_bytes(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    for _ in range(rng.randint(1, 6)):
        if buf:
            buf[rng.randrange(len(buf))] = rng.getrandbits(8)


def _b_strings(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    try:
        hdr_len, _, _, str_off, str_len = struct.unpack_from("<IIIII", buf, 4)
    except struct.error:
        return
    start = hdr_len + str_off
    for _ in range(rng.randint(1, 3)):
        if str_len:
            pos = start + rng.randrange(str_len)
            if pos < len(buf):
                buf[pos] = rng.choice((0, 0xFF, 0xC3, 0x80, ord(" "), rng.getrandbits(8)))


def _b_dup(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    """Replace a record's 12-byte head with another record's."""
    if len(offs) < 2:
        return _b_word(buf, rng, offs)
    a, b = rng.sample(offs, 2)
    buf[a:a + 12] = buf[b:b + 12]


def _b_truncate(buf: bytearray, rng: random.Random, offs: list[int]) -> None:
    if len(buf) > 24:
        del buf[rng.randrange(24, len(buf)):]


_BTF_MUTATORS: list[tuple[float, Callable[[bytearray, random.Random, list[int]], None]]] = [
    (3.0, _b_word), (2.0, _b_info), (2.5, _b_type_ref), (0.6, _b_header), (0.8, _b_bytes),
    (1.0, _b_strings), (0.8, _b_dup), (0.2, _b_truncate),
]


def mutate_btf(data: bytes, rng: random.Random, rounds: int | None = None) -> bytes:
    """A mutated copy of the raw BTF blob ``data`` (1 to 4 mutations)."""
    buf = bytearray(data)
    weights = [w for w, _ in _BTF_MUTATORS]
    for _ in range(rounds or rng.choice((1, 1, 1, 2, 2, 3, 4))):
        _, offs = _btf_records(bytes(buf))
        fn = rng.choices([f for _, f in _BTF_MUTATORS], weights)[0]
        fn(buf, rng, offs)
    return bytes(buf)
