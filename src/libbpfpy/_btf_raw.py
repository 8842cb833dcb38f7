"""BTF in ``bpftool btf dump`` raw text format, straight from the raw type section.

Listing vmlinux means ~130k types and ~300k lines: going through a Python object
per type costs seconds, so this formats each kind directly from the packed records
(``struct`` unpacking, strings decoded once each), one loop for the whole section.
"""
from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable
from typing import Any

__all__ = ["listing"]

_KINDS = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
          "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
          "DECL_TAG", "TYPE_TAG", "ENUM64")
_INT_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGE = {0: "static", 1: "global", 2: "extern"}
_REFS = frozenset({2, 8, 9, 10, 11, 18})     # PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG


class _Names:
    """Type and member names by string offset, each decoded once."""

    def __init__(self, p: Any) -> None:
        self._p = p
        strings: bytes = p.strings
        parts = strings.split(b"\0")
        starts = itertools.accumulate(map(len, parts[:-1]), lambda a, n: a + n + 1,
                                      initial=0)
        base = p.base_str_len
        self.by_off: dict[int, str] = {
            base + off: s.decode("utf-8", "replace")
            for off, s in zip(starts, parts, strict=False)}
        self.by_off[0] = ""

    def __call__(self, off: int) -> str:
        s = self.by_off.get(off)
        if s is None:               # in a base BTF, or inside another string
            s = self.by_off[off] = self._p.string(off)
        return s


def listing(btf: Any, ids: Iterable[int] | None = None) -> str:
    """The raw text of the types ``ids`` (default: all of ``btf``'s own types)."""
    p = btf._p()
    e = p.endian
    data = p.types
    offsets = p.offsets
    start = p.start_id
    name = _Names(p)
    u3 = struct.Struct(e + "III").unpack_from
    u1 = struct.Struct(e + "I").unpack_from
    i1 = struct.Struct(e + "i").unpack_from
    iter3 = struct.Struct(e + "III").iter_unpack
    iter2 = struct.Struct(e + "Ii").iter_unpack
    iter2u = struct.Struct(e + "II").iter_unpack
    out: list[str] = []
    add = out.append
    kinds = _KINDS

    def kind_and_name(tid: int) -> str:
        t = btf[tid]
        return f"{t.kind.name} '{t.name or '(anon)'}'"

    seq = range(start, start + len(offsets)) if ids is None else ids
    for tid in seq:
        off = offsets[tid - start]
        name_off, info, size_type = u3(data, off)
        k = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31
        n = name(name_off) or "(anon)"
        kind = kinds[k] if k < len(kinds) else str(k)
        x = off + 12
        if k in _REFS:
            add(f"[{tid}] {kind} '{n}' type_id={size_type}")
        elif k == 12:               # FUNC
            add(f"[{tid}] FUNC '{n}' type_id={size_type} "
                f"linkage={_LINKAGE.get(vlen, '(unknown)')}")
        elif k == 4 or k == 5:      # STRUCT, UNION
            add(f"[{tid}] {kind} '{n}' size={size_type} vlen={vlen}")
            for m_name, m_type, m_off in iter3(data[x:x + 12 * vlen]):
                mn = name(m_name) or "(anon)"
                if kflag and m_off >> 24:
                    add(f"\t'{mn}' type_id={m_type} bits_offset={m_off & 0xFFFFFF} "
                        f"bitfield_size={m_off >> 24}")
                else:
                    add(f"\t'{mn}' type_id={m_type} "
                        f"bits_offset={m_off & 0xFFFFFF if kflag else m_off}")
        elif k == 13:               # FUNC_PROTO
            add(f"[{tid}] FUNC_PROTO '{n}' ret_type_id={size_type} vlen={vlen}")
            for p_name, p_type in iter2u(data[x:x + 8 * vlen]):
                add(f"\t'{name(p_name) or '(anon)'}' type_id={p_type}")
        elif k == 1:                # INT
            word = u1(data, x)[0]
            add(f"[{tid}] INT '{n}' size={size_type} bits_offset={(word >> 16) & 0xFF} "
                f"nr_bits={word & 0xFF} "
                f"encoding={_INT_ENC.get((word >> 24) & 0x0F, 'UNKN')}")
        elif k == 3:                # ARRAY
            elem, index, nelems = u3(data, x)
            add(f"[{tid}] ARRAY '{n}' type_id={elem} index_type_id={index} "
                f"nr_elems={nelems}")
        elif k == 6:                # ENUM
            add(f"[{tid}] ENUM '{n}' encoding={'SIGNED' if kflag else 'UNSIGNED'} "
                f"size={size_type} vlen={vlen}")
            for v_name, v_val in iter2(data[x:x + 8 * vlen]):
                add(f"\t'{name(v_name)}' val={v_val if kflag else v_val & 0xFFFFFFFF}")
        elif k == 19:               # ENUM64
            add(f"[{tid}] ENUM64 '{n}' encoding={'SIGNED' if kflag else 'UNSIGNED'} "
                f"size={size_type} vlen={vlen}")
            for v_name, lo, hi in iter3(data[x:x + 12 * vlen]):
                v = (hi << 32) | lo
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                add(f"\t'{name(v_name)}' val={v}{'LL' if kflag else 'ULL'}")
        elif k == 7:                # FWD
            add(f"[{tid}] FWD '{n}' fwd_kind={'union' if kflag else 'struct'}")
        elif k == 14:               # VAR
            add(f"[{tid}] VAR '{n}' type_id={size_type}, "
                f"linkage={_LINKAGE.get(u1(data, x)[0], '(unknown)')}")
        elif k == 15:               # DATASEC
            add(f"[{tid}] DATASEC '{n}' size={size_type} vlen={vlen}")
            for v_type, v_off, v_size in iter3(data[x:x + 12 * vlen]):
                add(f"\ttype_id={v_type} offset={v_off} size={v_size} "
                    f"({kind_and_name(v_type)})")
        elif k == 16:               # FLOAT
            add(f"[{tid}] FLOAT '{n}' size={size_type}")
        elif k == 17:               # DECL_TAG
            add(f"[{tid}] DECL_TAG '{n}' type_id={size_type} "
                f"component_idx={i1(data, x)[0]}")
        else:
            add(f"[{tid}] {kind} '{n}'")
    out.append("")
    return "\n".join(out)
