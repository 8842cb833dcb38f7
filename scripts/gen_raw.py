#!/usr/bin/env python3
"""Generate ``src/libbpfpy/_raw/_table.py`` from the installed libbpf headers.

This is a development tool, not part of the package: it needs libclang (``pip
install libclang``) and libbpf-dev.  The output is committed, so users need
neither.  It walks libbpf's public headers (plus the kernel UAPI headers they
include) and writes, as plain ctypes declarations:

* every complete struct/union reachable from a libbpf function signature (the
  ``*_opts`` structs, ``bpf_map_info`` ...), with its layout checked here against
  clang's own offsets and size, so a mismatch fails generation instead of
  corrupting memory at run time;
* every function-pointer type used by a prototype (``CFUNCTYPE``);
* every enum, as ``{enum_name: {constant: value}}``;
* ``PROTOTYPES``: ``name -> (restype, argtypes)`` for every function that the
  headers declare *and* the shared library exports.

Run: ``python scripts/gen_raw.py [--lib /usr/lib/.../libbpf.so.1]``.
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import clang.cindex as ci

TK = ci.TypeKind
HEADERS = [
    "bpf/libbpf.h",
    "bpf/bpf.h",
    "bpf/btf.h",
    "bpf/libbpf_legacy.h",
    "bpf/libbpf_version.h",
    "linux/perf_event.h",
    "linux/btf.h",
]
# Records worth having even when no prototype mentions them.
EXTRA_RECORDS = [
    "bpf_prog_info", "bpf_map_info", "bpf_btf_info", "bpf_link_info",
    "btf_header", "btf_type", "btf_member", "btf_param", "btf_enum", "btf_enum64",
    "btf_array", "btf_var", "btf_var_secinfo", "btf_decl_tag",
    "perf_event_attr", "perf_event_header", "perf_event_mmap_page", "bpf_insn",
]

SCALARS = {
    TK.BOOL: "c_bool", TK.CHAR_S: "c_char", TK.SCHAR: "c_byte", TK.UCHAR: "c_ubyte",
    TK.CHAR_U: "c_ubyte", TK.SHORT: "c_short", TK.USHORT: "c_ushort", TK.INT: "c_int",
    TK.UINT: "c_uint", TK.LONG: "c_long", TK.ULONG: "c_ulong",
    TK.LONGLONG: "c_longlong", TK.ULONGLONG: "c_ulonglong", TK.FLOAT: "c_float",
    TK.DOUBLE: "c_double",
}


class Gen:
    def __init__(self) -> None:
        self.records: dict[str, ci.Type] = {}   # python name -> clang record type
        self.order: list[str] = []             # emission order (dependencies first)
        self.fntypes: dict[str, str] = {}       # python name -> CFUNCTYPE expr
        self.anon_names: dict[str, str] = {}
        self._visiting: set[str] = set()

    # -- naming -----------------------------------------------------------
    def record_name(self, t: ci.Type, hint: str = "") -> str:
        decl = t.get_canonical().get_declaration()
        if decl.spelling and not decl.is_anonymous():
            return decl.spelling
        key = decl.hash.__str__() + decl.location.file.name + str(decl.location.line)
        if key not in self.anon_names:
            self.anon_names[key] = f"_anon_{hint}_{len(self.anon_names)}"
        return self.anon_names[key]

    # -- types --------------------------------------------------------------
    def ctype(self, t: ci.Type, *, field: bool = False, hint: str = "") -> str:
        c = t.get_canonical()
        k = c.kind
        if k == TK.VOID:
            return "None"
        if k in SCALARS:
            return SCALARS[k]
        if k == TK.ENUM:
            return SCALARS.get(c.get_declaration().enum_type.get_canonical().kind, "c_int")
        if k == TK.INT128 or k == TK.UINT128:
            return "(c_uint64 * 2)"
        if k == TK.CONSTANTARRAY:
            return f"({self.ctype(c.element_type, field=True, hint=hint)} * {c.element_count})"
        if k == TK.INCOMPLETEARRAY:
            return f"({self.ctype(c.element_type, field=True, hint=hint)} * 0)"
        if k == TK.RECORD:
            return self.visit_record(c, hint)
        if k == TK.POINTER:
            return self.pointer(t, c.get_pointee(), hint)
        if k in (TK.FUNCTIONPROTO, TK.FUNCTIONNOPROTO):
            return self.fnptr(t, c, hint)
        raise TypeError(f"unmapped type {t.spelling} ({k})")

    def pointer(self, t: ci.Type, pointee: ci.Type, hint: str) -> str:
        p = pointee.get_canonical()
        if p.kind in (TK.CHAR_S, TK.SCHAR):
            return "c_char_p"
        if p.kind == TK.VOID:
            return "c_void_p"
        if p.kind in (TK.FUNCTIONPROTO, TK.FUNCTIONNOPROTO):
            return self.fnptr(t, p, hint)
        if p.kind == TK.RECORD:
            decl = p.get_declaration()
            if not decl.is_definition() and not _complete(p):
                return "c_void_p"   # opaque handle: struct bpf_object * and friends
            return f"POINTER({self.visit_record(p, hint)})"
        if p.kind == TK.POINTER:
            return f"POINTER({self.pointer(pointee, p.get_pointee(), hint)})"
        return f"POINTER({self.ctype(p, hint=hint)})"

    def fnptr(self, t: ci.Type, proto: ci.Type, hint: str) -> str:
        spelled = t.spelling.replace("const ", "").strip()
        name = spelled if spelled.isidentifier() else None
        res = proto.get_result()
        args = [self.ctype(a, hint=hint) for a in proto.argument_types()]
        expr = f"CFUNCTYPE({self.ctype(res, hint=hint)}{''.join(', ' + a for a in args)})"
        if name is None:
            name = "_fn_" + hashlib.sha1(expr.encode()).hexdigest()[:8]
        self.fntypes.setdefault(name, expr)
        return name

    def visit_record(self, t: ci.Type, hint: str = "") -> str:
        c = t.get_canonical()
        name = self.record_name(c, hint)
        if name in self.records or name in self._visiting:
            return name
        self._visiting.add(name)
        for f in c.get_fields():
            self.ctype(f.type, field=True, hint=name)
        self._visiting.discard(name)
        self.records[name] = c
        self.order.append(name)
        return name

    def record_src(self, name: str) -> tuple[str, str]:
        c = self.records[name]
        decl = c.get_declaration()
        kind = "Union" if decl.kind == ci.CursorKind.UNION_DECL else "Structure"
        fields, anon = [], []
        for i, f in enumerate(c.get_fields()):
            fname = f.spelling
            ty = self.ctype(f.type, field=True, hint=name)
            if f.is_bitfield() and not fname:
                # Unnamed bitfields only pad: ``int :32`` takes room, ``long :0``
                # only aligns the next member, which the next named field does anyway.
                if f.get_bitfield_width():
                    fields.append(f"    ('_pad{i}', {ty}, {f.get_bitfield_width()}),")
                continue
            if not fname or "(anonymous" in fname or "(unnamed" in fname:
                fname = f"_anon{i}"
                anon.append(fname)
            if f.is_bitfield():
                fields.append(f"    ({fname!r}, {ty}, {f.get_bitfield_width()}),")
            else:
                fields.append(f"    ({fname!r}, {ty}),")
        head = f"class {name}({kind}):\n    pass\n"
        body = ""
        if anon:
            body += f"{name}._anonymous_ = {tuple(anon)!r}\n"
        body += f"{name}._fields_ = [\n" + "\n".join(fields) + "\n]\n"
        return head, body


def _complete(t: ci.Type) -> bool:
    return t.get_size() > 0


def exported_functions(lib: str) -> dict[str, str]:
    """Map each exported function to the libbpf version node that introduced it."""
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "T":
            name, _, node = parts[2].partition("@@")
            if not node:
                name, _, node = parts[2].partition("@")
            found[name] = node.removeprefix("LIBBPF_")
    return found


def library_version(lib: str) -> str:
    h = ctypes.CDLL(lib)
    h.libbpf_version_string.restype = ctypes.c_char_p
    return h.libbpf_version_string().decode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="/usr/lib/x86_64-linux-gnu/libbpf.so.1")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                         / "src/libbpfpy/_raw/_table.py"))
    ns = ap.parse_args()

    resdir = subprocess.run(["clang", "-print-resource-dir"], check=True,
                            capture_output=True, text=True).stdout.strip()
    src = "".join(f"#include <{h}>\n" for h in HEADERS)
    tu = ci.Index.create().parse("gen.c", args=["-I/usr/include", f"-I{resdir}/include"],
                                 unsaved_files=[("gen.c", src)])
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        for d in errors:
            print(d, file=sys.stderr)
        return 1

    exports = exported_functions(ns.lib)
    g = Gen()
    protos: dict[str, str] = {}
    enums: dict[str, dict[str, int]] = {}
    anon_enum_consts: dict[str, int] = {}
    records_by_name: dict[str, ci.Type] = {}
    for cur in tu.cursor.get_children():
        if cur.kind == ci.CursorKind.FUNCTION_DECL and cur.linkage == ci.LinkageKind.EXTERNAL:
            if cur.spelling not in exports or cur.spelling in protos:
                continue
            res = g.ctype(cur.result_type, hint=cur.spelling)
            args = [g.ctype(a.type, hint=cur.spelling) for a in cur.get_arguments()]
            variadic = cur.type.is_function_variadic()
            protos[cur.spelling] = f"({res}, [{', '.join(args)}]{', True' if variadic else ''})"
        elif cur.kind == ci.CursorKind.ENUM_DECL and cur.is_definition():
            consts = {e.spelling: e.enum_value for e in cur.get_children()
                      if e.kind == ci.CursorKind.ENUM_CONSTANT_DECL}
            if cur.spelling and not cur.is_anonymous():
                enums[cur.spelling] = consts
            else:
                anon_enum_consts.update(consts)
        elif cur.kind in (ci.CursorKind.STRUCT_DECL, ci.CursorKind.UNION_DECL) \
                and cur.is_definition() and cur.spelling:
            records_by_name[cur.spelling] = cur.type
    for name in EXTRA_RECORDS:
        g.visit_record(records_by_name[name])

    missing = sorted(set(exports) - set(protos))
    version = library_version(ns.lib)
    lines = [
        f'"""ctypes declarations for libbpf {version}, generated by scripts/gen_raw.py.',
        "",
        "Generated from the library's public headers; do not edit by hand.",
        '"""',
        "# ruff: noqa",
        "# mypy: ignore-errors",
        "from ctypes import *",
        "",
        f"GENERATED_FROM = {version!r}",
        "",
    ]
    heads, bodies = [], []
    for name in g.order:
        h, b = g.record_src(name)
        heads.append(h)
        bodies.append(b)
    lines += heads
    lines.append("")
    # Function-pointer types may mention records, and records may hold function
    # pointers; declaring classes first, then callbacks, then _fields_ covers both.
    for name, expr in sorted(g.fntypes.items()):
        lines.append(f"{name} = {expr}")
    lines.append("")
    lines += bodies
    lines.append("RECORDS = {")
    lines += [f"    {n!r}: {n}," for n in g.order]
    lines.append("}")
    lines.append("")
    lines.append("CALLBACKS = {")
    lines += [f"    {n!r}: {n}," for n in sorted(g.fntypes) if not n.startswith("_")]
    lines.append("}")
    lines.append("")
    lines.append("# name: (restype, argtypes[, variadic])")
    lines.append("PROTOTYPES = {")
    lines += [f"    {n!r}: {p}," for n, p in sorted(protos.items())]
    lines.append("}")
    lines.append("")
    lines.append("# name: the libbpf release whose version node exports it")
    lines.append("SINCE = {")
    lines += [f"    {n!r}: {exports[n]!r}," for n in sorted(protos)]
    lines.append("}")
    lines.append("")
    lines.append("ENUMS = {")
    for en, consts in sorted(enums.items()):
        lines.append(f"    {en!r}: {{")
        lines += [f"        {k!r}: {v}," for k, v in consts.items()]
        lines.append("    },")
    lines.append("}")
    lines.append("")
    lines.append("CONSTANTS = {")
    lines += [f"    {k!r}: {v}," for k, v in anon_enum_consts.items()]
    lines.append("}")
    lines.append("")
    out = Path(ns.out)
    out.write_text("\n".join(lines))

    # Check every record's layout against clang before declaring success.
    spec = importlib.util.spec_from_file_location("_table", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    bad = 0
    for name in g.order:
        c = g.records[name]
        cls = getattr(mod, name)
        if ctypes.sizeof(cls) != c.get_size():
            print(f"size mismatch {name}: ctypes {ctypes.sizeof(cls)} clang {c.get_size()}")
            bad += 1
        for i, f in enumerate(c.get_fields()):
            if not f.spelling or f.is_bitfield() or "(anonymous" in f.spelling or "(unnamed" in f.spelling:
                continue
            off = c.get_offset(f.spelling) // 8
            got = getattr(cls, f.spelling).offset
            if off != got:
                print(f"offset mismatch {name}.{f.spelling}: ctypes {got} clang {off}")
                bad += 1
    print(f"{len(protos)} prototypes, {len(g.order)} records, {len(g.fntypes)} callbacks, "
          f"{len(enums)} enums; exported but undeclared: {missing}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
