"""BTF checked in Python before libbpf (or libbpfpy's own decoders) trusts it.

libbpf 1.1 checks little more than that each type record fits its section: a type
id out of range, a string offset past the string table or a cycle of typedefs
crashes it later (``btf_dump``, ``btf__resolve_size``, its ELF loader).  This module
applies the rules the kernel's BTF verifier applies (``kernel/bpf/btf.c``) and those
libbpfpy's decoders rely on:

* header: magic, version 1, sections inside the blob, aligned, not overlapping;
  strings NUL-terminated, the first one empty;
* every type: a known kind; a record that fits; names that are C identifiers (or
  printable section names, tag values, or the words of an int's name) where the
  kind has a name, none where it has not; ``vlen`` and ``kflag`` meaningful for
  the kind; sizes a C type can have (ints of 1/2/4/8/16 bytes with their bits
  inside, enums of 1/2/4/8 ...);
* every type id in range and of a kind that fits where it is used (a member is
  data, a FUNC points at a FUNC_PROTO, a DATASEC holds VARs ...);
* no cycle that does not pass through a pointer *and* a struct or union (only those
  can refer to themselves in C), and no chain of types deeper than
  :data:`MAX_DEPTH`, which bounds every recursive walk of the types;
* sizes: arrays and records no larger than 4 GiB (``u32``, as the kernel), members
  and variables inside their record or section, bitfields inside their storage,
  holes between members bounded (:data:`MAX_HOLE`, :data:`MAX_HOLES` in all).

Anything else raises :class:`~libbpfpy.errors.FormatError` naming the type id.
"""
from __future__ import annotations

import re
import struct
from array import array
from collections.abc import Callable
from typing import NamedTuple

from ..errors import FormatError

__all__ = ["check_btf", "CheckedBTF", "MAX_DEPTH", "MAX_TYPES"]

# Kinds (BTF_KIND_*).
UNKN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, \
    FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(20)
KIND_NAMES = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
              "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC",
              "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64")

MAX_TYPES = 0xFFFFF          # the kernel's BTF_MAX_TYPE
MAX_NAME = 511               # KSYM_NAME_LEN - 1
MAX_DEPTH = 96               # longest chain of types walked without a pointer
MAX_SIZE = 0xFFFFFFFF        # a type's size is a u32
# Holes in records (bytes no member covers) are written out as padding when BTF is
# dumped as C: bounded so that a dump stays proportional to the blob.  (Linux's own
# largest hole is one page, its holes total ~64 KiB.)
MAX_HOLE = 1 << 20
MAX_HOLES = 16 << 20

_FIXED = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
_PER_VLEN = {STRUCT: 12, UNION: 12, ENUM: 8, FUNC_PROTO: 8, DATASEC: 12, ENUM64: 12}
_MODIFIERS = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})
_SIZED = frozenset({INT, ENUM, ENUM64, FLOAT, STRUCT, UNION, DATASEC})
_DATA = frozenset({INT, PTR, ARRAY, STRUCT, UNION, ENUM, ENUM64, FLOAT})
# Kinds whose kind_flag means nothing: the kernel refuses it set.
_NO_KFLAG = frozenset({INT, PTR, ARRAY, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR,
                       DATASEC, FLOAT})
# Kinds without a name, and kinds that must have one.
_UNNAMED = frozenset({PTR, ARRAY, VOLATILE, CONST, RESTRICT, FUNC_PROTO})
_NAMED = frozenset({INT, FWD, TYPEDEF, FUNC, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG})

# Name classes: which rules a name satisfies (computed once per string offset).
_C_IDENT, _C_WORDS, _C_SECTION, _C_TAG, _C_EMPTY = 1, 2, 4, 8, 16
_C_ALL = _C_IDENT | _C_WORDS | _C_SECTION | _C_TAG
_IDENT = re.compile(rb"[A-Za-z_.][A-Za-z0-9_.]*\Z")
_WORDS = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?: [A-Za-z_][A-Za-z0-9_]*)*\Z")
_SECTION = re.compile(rb"[\x21-\x7e]+\Z")
_TAG = re.compile(rb"[\x20-\x21\x23-\x5b\x5d-\x7e]+\Z")   # printable, no quote or backslash


class Base(NamedTuple):
    """What split BTF needs of its base: type count, string bytes, and per type id
    its kind, its resolved size (None when it has none) and its vlen."""

    ntypes: int
    str_len: int
    kind: Callable[[int], int]
    size: Callable[[int], int | None]
    vlen: Callable[[int], int]


class CheckedBTF(NamedTuple):
    """The facts established while checking (used again by the checks of .BTF.ext)."""

    start_id: int
    ntypes: int                # type ids are < ntypes
    kinds: array[int]          # of this BTF's own types, index = id - start_id
    vlens: array[int]
    strings: bytes
    str_base: int              # string offsets below this are the base's

    def kind(self, type_id: int) -> int:
        return self.kinds[type_id - self.start_id] if type_id >= self.start_id else -1

    def string(self, off: int) -> bytes | None:
        """The string at ``off`` (None when out of range; base strings are not held)."""
        off -= self.str_base
        if not 0 <= off < len(self.strings):
            return None
        return self.strings[off:self.strings.index(b"\0", off)]


def _str_kind(t: int) -> str:
    return KIND_NAMES[t] if 0 <= t < len(KIND_NAMES) else f"kind {t}"


class _Checker:
    def __init__(self, data: bytes, source: str, base: Base | None) -> None:
        self.data = data
        self.source = source
        self.base = base
        self.e = "<"

    def fail(self, where: str, problem: str) -> None:
        raise FormatError(self.source, where, problem)

    # -- header and strings ------------------------------------------------------------
    def header(self) -> tuple[int, int, int, int]:
        d = self.data
        if len(d) < 24:
            self.fail("BTF header", f"{len(d)} bytes, shorter than a header (24)")
        magic = struct.unpack_from("<H", d, 0)[0]
        if magic == 0xEB9F:
            self.e = "<"
        elif magic == 0x9FEB:
            self.e = ">"
        else:
            self.fail("BTF header", f"bad magic {magic:#06x} (not BTF)")
        version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            self.e + "BBIIIII", d, 2)
        if version != 1:
            self.fail("BTF header", f"version {version}, only version 1 exists")
        if flags:
            self.fail("BTF header", f"flags {flags:#x}, none are defined")
        if hdr_len < 24 or hdr_len > len(d):
            self.fail("BTF header", f"header length {hdr_len} (blob is {len(d)} bytes)")
        if d[24:hdr_len].strip(b"\0"):
            self.fail("BTF header", "unknown non-zero header fields")
        body = len(d) - hdr_len
        if type_off % 4 or type_len % 4:
            self.fail("BTF header", f"type section at {type_off}+{type_len} is not "
                      "4-byte aligned")
        if type_off + type_len > body or str_off + str_len > body:
            self.fail("BTF header", f"sections (types {type_off}+{type_len}, strings "
                      f"{str_off}+{str_len}) run past the blob ({body} bytes of data)")
        if type_off + type_len > str_off and str_off + str_len > type_off and \
                type_len and str_len:
            self.fail("BTF header", "type and string sections overlap")
        return hdr_len + type_off, type_len, hdr_len + str_off, str_len

    def strings(self, off: int, size: int) -> None:
        s = self.data[off:off + size]
        if self.base is None or size:
            if not size or s[-1] != 0:
                self.fail("BTF strings", "the string section is empty or its last string "
                          "is not NUL-terminated")
            if self.base is None and s[0] != 0:
                self.fail("BTF strings", "the first string is not the empty string")
        if size > 0x7FFFFFFF:
            self.fail("BTF strings", f"{size} bytes of strings, more than BTF can address")
        self.strs = s
        self.str_base = self.base.str_len if self.base else 0
        self.names: dict[int, int] = {}

    def classify(self, off: int, where: str) -> int:
        """The name classes (_C_* bits) of the string at ``off``; cached per offset."""
        cached = self.names.get(off)
        if cached is not None:
            return cached
        rel = off - self.str_base
        c = 0
        if off < self.str_base:
            c = _C_ALL  # a base string: the base is trusted (checked, or the kernel's)
        elif rel >= len(self.strs):
            self.fail(where, f"name offset {off} is past the string section "
                      f"({self.str_base + len(self.strs)} bytes)")
        else:
            n = self.strs[rel:self.strs.index(b"\0", rel)]
            if len(n) > MAX_NAME:
                self.fail(where, f"name of {len(n)} bytes (at most {MAX_NAME})")
            c = _C_EMPTY if not n else (
                (_C_IDENT if _IDENT.match(n) else 0) | (_C_WORDS if _WORDS.match(n) else 0)
                | (_C_SECTION if _SECTION.match(n) else 0) | (_C_TAG if _TAG.match(n) else 0))
        self.names[off] = c
        return c

    def check_name(self, off: int, where: str, pattern: int, what: str,
                   required: bool) -> None:
        if not off:
            if required:
                self.fail(where, f"{what} has no name")
            return
        c = self.names.get(off)
        if c is None:
            c = self.classify(off, where)
        if c & pattern:
            return
        if c == _C_EMPTY:
            if required:
                self.fail(where, f"{what} has an empty name")
            return
        rel = off - self.str_base
        n = self.strs[rel:self.strs.index(b"\0", rel)]
        self.fail(where, f"{what} name {n[:40]!r} is not valid")

    # -- types -------------------------------------------------------------------------
    def run(self) -> CheckedBTF:
        t_off, t_len, s_off, s_len = self.header()
        self.strings(s_off, s_len)
        d = self.data
        e = self.e
        start = self.base.ntypes if self.base else 1
        head = struct.Struct(e + "III").unpack_from
        offs = array("I")
        kinds = array("B")
        vlens = array("H")
        raw = array("I")         # INT/ENUM/...: size; others: referenced type
        off, end = t_off, t_off + t_len
        fixed, per = _FIXED, _PER_VLEN
        while off < end:
            if len(offs) >= MAX_TYPES:
                self.fail("BTF types", f"more than {MAX_TYPES} types")
            tid = start + len(offs)
            if off + 12 > end:
                self.fail(f"type [{tid}]", "truncated type record")
            _name, info, size_type = head(d, off)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            if not INT <= kind <= ENUM64:
                self.fail(f"type [{tid}]", f"unknown kind {kind}")
            if info & 0x60FF0000:
                self.fail(f"type [{tid}]", f"reserved bits set in info {info:#x}")
            rec = 12 + fixed.get(kind, 0) + per.get(kind, 0) * vlen
            if off + rec > end:
                self.fail(f"type [{tid}]", f"{_str_kind(kind)} record of {rec} bytes "
                          "runs past the type section")
            offs.append(off)
            kinds.append(kind)
            vlens.append(vlen)
            raw.append(size_type)
            off += rec
        self.offs, self.kinds, self.vlens, self.raw = offs, kinds, vlens, raw
        self.start = start
        self.count = start + len(offs)
        self.head = head
        self.ptr_size = 8
        n = len(offs)
        # Per type: its entries (members, params, values, vars), decoded once, and the
        # own-type indices it refers to.
        self.entries: list[list[tuple[int, ...]] | None] = [None] * n
        self.children: list[list[int]] = [_NONE] * n
        self.extra = array("I", bytes(4 * n))    # INT data, ARRAY nelems, VAR linkage...
        self.holes = 0
        for i in range(n):
            self.check_type(i)
        self.check_graph()
        self.resolve_sizes()
        for i in range(n):
            if kinds[i] in (STRUCT, UNION, DATASEC, VAR):
                self.check_layout(i)
        return CheckedBTF(start, self.count, kinds, vlens, self.strs, self.str_base)

    def ref(self, tid: int, target: int, what: str) -> None:
        if target >= self.count:
            self.fail(f"type [{tid}]", f"{what} refers to type id {target}, beyond the "
                      f"last one ({self.count - 1})")

    def kind_of(self, tid: int) -> int:
        if tid >= self.start:
            return self.kinds[tid - self.start]
        if tid == 0:
            return UNKN
        assert self.base is not None
        return self.base.kind(tid)

    def vlen_of(self, tid: int) -> int:
        if tid < self.start:
            assert self.base is not None
            return self.base.vlen(tid) if tid else 0
        return self.vlens[tid - self.start]

    def check_type(self, i: int) -> None:
        tid = self.start + i
        off = self.offs[i]
        kind = self.kinds[i]
        vlen = self.vlens[i]
        name_off, info, st = self.head(self.data, off)
        x = off + 12
        d, e = self.data, self.e
        if info >> 31 and kind in _NO_KFLAG:
            self.fail(f"type [{tid}] {_str_kind(kind)}", "kind_flag set on a kind that "
                      "has none")
        if kind in _UNNAMED:
            if name_off:
                self.fail(f"type [{tid}] {_str_kind(kind)}", "has a name, but this kind "
                          "of type is anonymous")
        elif name_off or kind in _NAMED:
            pattern = (_C_WORDS if kind in (INT, FLOAT) else _C_SECTION if kind == DATASEC
                       else _C_TAG if kind in (DECL_TAG, TYPE_TAG) else _C_IDENT)
            self.check_name(name_off, f"type [{tid}] {_str_kind(kind)}", pattern, "type",
                            kind in _NAMED)
        if vlen and kind not in _PER_VLEN and kind != FUNC:
            self.fail(f"type [{tid}] {_str_kind(kind)}", f"vlen {vlen} on a kind without "
                      "members")
        start, count = self.start, self.count
        names = self.names
        if kind in (PTR, VOLATILE, CONST, RESTRICT, TYPEDEF, TYPE_TAG, FUNC):
            if st >= count:
                self.ref(tid, st, "its target")
            if st >= start:
                self.children[i] = [st - start]
            if kind == FUNC:
                if vlen > 2:
                    self.fail(f"type [{tid}] FUNC", f"linkage {vlen} (static, global or "
                              "extern)")
                if self.kind_of(st) != FUNC_PROTO:
                    self.fail(f"type [{tid}] FUNC", f"points at a "
                              f"{_str_kind(self.kind_of(st))}, not a FUNC_PROTO")
            return
        where = f"type [{tid}] {_str_kind(kind)}"
        if kind == INT:
            bits = struct.unpack_from(e + "I", d, x)[0]
            self.extra[i] = bits
            if bits & 0xF0000000:
                self.fail(where, f"reserved bits set in int data {bits:#x}")
            enc, bit_off, nbits = (bits >> 24) & 0xF, (bits >> 16) & 0xFF, bits & 0xFF
            if st not in (1, 2, 4, 8, 16):
                self.fail(where, f"size {st} (ints are 1, 2, 4, 8 or 16 bytes)")
            if enc not in (0, 1, 2, 4):
                self.fail(where, f"encoding {enc} (signed, char and bool exclude each "
                          "other)")
            if not nbits or nbits + bit_off > 8 * st or nbits > 128:
                self.fail(where, f"{nbits} bits at bit {bit_off} do not fit its {st} bytes")
        elif kind == ARRAY:
            elem, index, nelems = struct.unpack_from(e + "III", d, x)
            self.extra[i] = nelems
            if st:
                self.fail(where, "an array's size field must be 0")
            self.ref(tid, elem, "its element type")
            self.ref(tid, index, "its index type")
            self.raw[i] = elem      # from here on: the element type, like a modifier's
            if elem >= start:
                self.children[i] = [elem - start]
            ik = self.resolved_kind(index)
            if ik not in (INT, ENUM, ENUM64):
                self.fail(where, f"index type [{index}] is a {_str_kind(ik)}, not an int")
        elif kind in (STRUCT, UNION):
            members = list(struct.iter_unpack(e + "III", d[x:x + 12 * vlen]))
            self.entries[i] = members
            kids = []
            for j, (m_name, m_type, _m_off) in enumerate(members):
                if m_name and not names.get(m_name, 0) & _C_IDENT:
                    self.check_name(m_name, f"{where}, member {j}", _C_IDENT, "member", False)
                if m_type >= count:
                    self.ref(tid, m_type, f"member {j}")
                if m_type >= start:
                    kids.append(m_type - start)
            self.children[i] = kids
        elif kind in (ENUM, ENUM64):
            if st not in (1, 2, 4, 8):
                self.fail(where, f"size {st} (enums are 1, 2, 4 or 8 bytes)")
            step = 8 if kind == ENUM else 12
            for j in range(vlen):
                v_name = struct.unpack_from(e + "I", d, x + step * j)[0]
                if not names.get(v_name, 0) & _C_IDENT:
                    self.check_name(v_name, f"{where}, value {j}", _C_IDENT, "enumerator", True)
        elif kind == FWD:
            if st:
                self.fail(where, "a forward declaration's type field must be 0")
        elif kind == FUNC_PROTO:
            self.ref(tid, st, "its return type")
            rk = self.resolved_kind(st)
            if rk in (FUNC, FUNC_PROTO, VAR, DATASEC, DECL_TAG):
                self.fail(where, f"returns a {_str_kind(rk)}")
            params = list(struct.iter_unpack(e + "II", d[x:x + 8 * vlen]))
            kids = [st - start] if st >= start else []
            for j, (p_name, p_type) in enumerate(params):
                if p_name and not names.get(p_name, 0) & _C_IDENT:
                    self.check_name(p_name, f"{where}, parameter {j}", _C_IDENT, "parameter",
                                    False)
                if p_type >= count:
                    self.ref(tid, p_type, f"parameter {j}")
                if p_type == 0:
                    if j != vlen - 1 or p_name:
                        self.fail(f"{where}, parameter {j}", "void parameter that is not "
                                  "the final '...'")
                    continue
                if p_type >= start:
                    kids.append(p_type - start)
                    pk = self.kinds[p_type - start]
                    if pk in _MODIFIERS:
                        pk = self.resolved_kind(p_type)
                    if pk in (FUNC, FUNC_PROTO, VAR, DATASEC, DECL_TAG, UNKN):
                        self.fail(f"{where}, parameter {j}", f"is a {_str_kind(pk)}")
            self.children[i] = kids
        elif kind == VAR:
            self.ref(tid, st, "its type")
            if st >= start:
                self.children[i] = [st - start]
            linkage = struct.unpack_from(e + "I", d, x)[0]
            self.extra[i] = linkage
            if linkage > 2:
                self.fail(where, f"linkage {linkage} (static, global or extern)")
        elif kind == DATASEC:
            secinfos = list(struct.iter_unpack(e + "III", d[x:x + 12 * vlen]))
            self.entries[i] = secinfos
            kids = []
            for j, (v_type, _v_off, _v_size) in enumerate(secinfos):
                self.ref(tid, v_type, f"variable {j}")
                vk = self.kind_of(v_type)
                if vk not in (VAR, FUNC):
                    self.fail(f"{where}, variable {j}", f"is a {_str_kind(vk)}, not a VAR")
                if v_type >= start:
                    kids.append(v_type - start)
            self.children[i] = kids
        elif kind == FLOAT:
            if st not in (2, 4, 8, 12, 16):
                self.fail(where, f"size {st} (floats are 2, 4, 8, 12 or 16 bytes)")
        elif kind == DECL_TAG:
            self.ref(tid, st, "its target")
            idx = struct.unpack_from(e + "i", d, x)[0]
            tk = self.kind_of(st)
            if tk not in (STRUCT, UNION, FUNC, VAR, TYPEDEF):
                self.fail(where, f"tags a {_str_kind(tk)}")
            if idx < -1 or (idx >= 0 and (tk in (VAR, TYPEDEF) or idx >= self.components(st))):
                self.fail(where, f"component index {idx} does not exist in type [{st}]")

    def components(self, tid: int) -> int:
        k = self.kind_of(tid)
        if k == FUNC:
            proto = self.raw[tid - self.start] if tid >= self.start else 0
            return self.vlen_of(proto) if proto else 0
        return self.vlen_of(tid)

    def resolved_kind(self, tid: int) -> int:
        """The kind behind modifiers and typedefs (cycle-safe: gives up after a while)."""
        start, kinds, raw = self.start, self.kinds, self.raw
        for _ in range(MAX_DEPTH):
            if tid < start:
                return self.kind_of(tid)
            k = kinds[tid - start]
            if k not in _MODIFIERS:
                return k
            tid = raw[tid - start]
            if tid >= self.count:
                return UNKN
        return UNKN

    # -- graph -------------------------------------------------------------------------
    def check_graph(self) -> None:
        kinds, children = self.kinds, self.children
        # Values: every edge but a pointer's.  Declarators: every edge but a record's.
        values = [_NONE if kinds[i] == PTR else children[i] for i in range(len(kinds))]
        self.value_children = values
        self.order = self.walk(values, "contains itself (a cycle that no pointer breaks)")
        declarators = [_NONE if kinds[i] in (STRUCT, UNION, DATASEC) else children[i]
                       for i in range(len(kinds))]
        self.walk(declarators, "refers to itself through pointers, qualifiers or "
                  "typedefs only (no struct or union in the cycle)")

    def walk(self, children: list[list[int]], problem: str) -> list[int]:
        """Depth-first over ``children``: fail on a cycle or on a path longer than
        MAX_DEPTH; return the nodes children first.  Iterative: the blob decides how
        deep it goes."""
        n = len(children)
        depth = [0] * n          # 0: unvisited; -1: on the stack; >0: done
        order: list[int] = []
        for root in range(n):
            if depth[root] or not children[root]:
                if not depth[root]:
                    depth[root] = 1
                    order.append(root)
                continue
            depth[root] = -1
            stack = [root]
            pos = [0]
            while stack:
                node = stack[-1]
                kids = children[node]
                k = pos[-1]
                if k < len(kids):
                    pos[-1] = k + 1
                    c = kids[k]
                    dc = depth[c]
                    if dc == 0:
                        if children[c]:
                            depth[c] = -1
                            stack.append(c)
                            pos.append(0)
                        else:
                            depth[c] = 1
                            order.append(c)
                    elif dc == -1:
                        self.fail(f"type [{self.start + c}] {_str_kind(self.kinds[c])}",
                                  problem)
                    continue
                stack.pop()
                pos.pop()
                best = max([depth[c] for c in kids]) + 1
                if best > MAX_DEPTH:
                    self.fail(f"type [{self.start + node}]", f"types nest more than "
                              f"{MAX_DEPTH} deep")
                depth[node] = best
                order.append(node)
        return order

    # -- sizes -------------------------------------------------------------------------
    def resolve_sizes(self) -> None:
        n = len(self.kinds)
        sizes: list[int | None] = [None] * n
        kinds, raw = self.kinds, self.raw
        start = self.start
        base = self.base

        def size_of(tid: int) -> int | None:
            if tid >= start:
                return sizes[tid - start]
            if tid == 0:
                return None
            assert base is not None
            return base.size(tid)

        # Children before parents: the post-order of the value graph's walk.
        for node in self.order:
            kind = kinds[node]
            if kind in _SIZED:
                sizes[node] = raw[node]
            elif kind == PTR:
                sizes[node] = self.ptr_size
            elif kind in _MODIFIERS or kind == VAR:
                sizes[node] = size_of(raw[node])
            elif kind == ARRAY:
                elem = raw[node]
                esize = size_of(elem)
                ek = self.resolved_kind(elem)
                where = f"type [{start + node}] ARRAY"
                if esize is None or ek not in _DATA:
                    self.fail(where, f"element type [{elem}] is a {_str_kind(ek)}, "
                              "which has no size")
                assert esize is not None
                total = esize * self.extra[node]
                if total > MAX_SIZE:
                    self.fail(where, f"{self.extra[node]} elements of {esize} bytes "
                              "exceed 4 GiB")
                sizes[node] = total
        self.sizes = sizes
        self.size_of = size_of

    def check_layout(self, i: int) -> None:
        kind = self.kinds[i]
        tid = self.start + i
        where = f"type [{tid}] {_str_kind(kind)}"
        if kind in (STRUCT, UNION):
            size = self.raw[i]
            kflag = self.head(self.data, self.offs[i])[1] >> 31
            spans: list[tuple[int, int]] = []     # (first bit, end bit) of each member
            for j, (m_name, m_type, m_off) in enumerate(self.entries[i] or ()):
                mw = f"{where}, member {j}"
                bits = 0
                if kflag:
                    bits, m_off = m_off >> 24, m_off & 0xFFFFFF
                mk = self.resolved_kind(m_type)
                msize = self.size_of(m_type)
                if msize is None or mk not in _DATA:
                    self.fail(mw, f"type [{m_type}] is a {_str_kind(mk)}, not data")
                assert msize is not None
                if bits:
                    if mk not in (INT, ENUM, ENUM64):
                        self.fail(mw, f"a bitfield of a {_str_kind(mk)}")
                    if bits > 8 * msize or bits > 128:
                        self.fail(mw, f"a {bits}-bit field of a {msize}-byte type")
                    width = bits
                else:
                    # An old-style bitfield: the INT type itself says how many bits.
                    width = (self.int_bits(m_type) if mk == INT else 0) or 8 * msize
                    if width == 8 * msize and m_off % 8:
                        self.fail(mw, f"bit offset {m_off} is not byte-aligned")
                unnamed = not m_name or self.names.get(m_name) == _C_EMPTY
                if unnamed and width == 8 * msize and mk not in (STRUCT, UNION):
                    self.fail(mw, f"an unnamed member of a {_str_kind(mk)} (only structs and "
                              "unions can be anonymous members)")
                if kind == UNION and m_off and width == 8 * msize:
                    self.fail(mw, f"a union member at bit offset {m_off} (they start at 0)")
                if m_off + width > 8 * size:
                    self.fail(mw, f"bits {m_off}..{m_off + width} run past the "
                              f"{size}-byte record")
                spans.append((m_off, m_off + width))
            self.check_holes(where, size, spans)
        elif kind == DATASEC:
            size = self.raw[i]
            last = 0
            for j, (v_type, v_off, v_size) in enumerate(self.entries[i] or ()):
                vw = f"{where}, variable {j}"
                need = self.size_of(v_type) if self.kind_of(v_type) == VAR else None
                if need is not None and v_size < need:
                    self.fail(vw, f"{v_size} bytes for a {need}-byte variable")
                if v_off + v_size > MAX_SIZE:
                    self.fail(vw, "offset and size exceed 4 GiB")
                if size:  # 0 in object files until libbpf sets it from the ELF section
                    if v_off < last or v_off + v_size > size:
                        self.fail(vw, f"bytes {v_off}..{v_off + v_size} overlap another "
                                  f"variable or run past the {size}-byte section")
                    last = v_off + v_size
        elif kind == VAR:
            # Externs may be of type void (`extern const void sym __ksym;`).
            vk = self.resolved_kind(self.raw[i])
            if self.extra[i] != 2 and (self.size_of(self.raw[i]) is None or vk not in _DATA):
                self.fail(where, f"its type [{self.raw[i]}] is a {_str_kind(vk)}, not data")

    def check_holes(self, where: str, size: int, spans: list[tuple[int, int]]) -> None:
        """Bound the bytes of a record that no member covers (see MAX_HOLE)."""
        covered = 0
        for start, end in sorted(spans):
            hole = start // 8 - (covered + 7) // 8
            if hole > 0:
                self.add_hole(where, hole)
            covered = max(covered, end)
        tail = size - (covered + 7) // 8
        if tail > 0:
            self.add_hole(where, tail)

    def add_hole(self, where: str, hole: int) -> None:
        if hole > MAX_HOLE:
            self.fail(where, f"a hole of {hole} bytes no member covers (more than "
                      f"{MAX_HOLE >> 20} MiB)")
        self.holes += hole
        if self.holes > MAX_HOLES:
            self.fail(where, f"holes between members add up to more than "
                      f"{MAX_HOLES >> 20} MiB")

    def int_bits(self, tid: int) -> int:
        """The bit count of the INT behind ``tid`` (own types only; 0 if unknown)."""
        for _ in range(MAX_DEPTH):
            if tid < self.start:
                return 0
            k = self.kinds[tid - self.start]
            if k == INT:
                return self.extra[tid - self.start] & 0xFF
            if k not in _MODIFIERS:
                return 0
            tid = self.raw[tid - self.start]
        return 0


_NONE: list[int] = []


def check_btf(data: bytes, source: str, *, base: Base | None = None) -> CheckedBTF:
    """Check the raw BTF blob ``data`` (split BTF on top of ``base`` when given);
    raise :class:`FormatError` naming what is wrong, or return what was learnt."""
    return _Checker(bytes(data), source, base).run()
