"""``libbpfpy inspect OBJ.o``: what a BPF object file holds, without loading it.

Programs with their section, type and attach point; maps with type, sizes, flags
and BTF key/value types; global variables with their section, type and initial
value.  Needs no privileges: the object is only opened.
"""
from __future__ import annotations

import argparse
from typing import Any

from ._output import add_json_option, emit, flag_names, jsonable, quiet_libbpf, table

# libbpf section prefixes, by the kind of attach they mean (SEC("tp/...") is a
# tracepoint, and so on); anything else keeps its own prefix as its kind.
_KIND_ALIASES = {"tp": "tracepoint", "raw_tp": "raw_tracepoint",
                 "raw_tp.w": "raw_tracepoint.w", "tp_btf": "tp_btf"}


def attach_point(section: str) -> tuple[str, str | None]:
    """(kind, target) of a program from its section name: ``("tracepoint",
    "syscalls:sys_enter_mmap")`` for ``tracepoint/syscalls/sys_enter_mmap``; the
    target is None when the section leaves it to run time (``SEC("fentry")``)."""
    prefix, _, rest = section.partition("/")
    kind = _KIND_ALIASES.get(prefix, prefix)
    if not rest:
        return kind, None
    if kind == "tracepoint":
        cat, _, name = rest.partition("/")
        return kind, f"{cat}:{name}" if name else rest
    return kind, rest


def _program(p: Any) -> dict[str, Any]:
    kind, target = attach_point(p.section)
    return {"name": p.name, "section": p.section, "type": p.type.libbpf_name,
            "attach": kind, "target": target, "insns": p.insn_count,
            "autoload": p.autoload}


def _map(obj: Any, m: Any) -> dict[str, Any]:
    from ..enums import MapFlags
    key_t = value_t = None
    btf = obj.btf
    if btf is not None:
        try:
            kt, vt = btf.map_types(m)
        except (KeyError, ValueError):
            kt = vt = None
        key_t = btf.type_name(kt) if kt is not None else None
        value_t = btf.type_name(vt) if vt is not None else None
    return {"name": m.name, "type": m.type.libbpf_name, "key_size": m.key_size,
            "value_size": m.value_size, "max_entries": m.max_entries,
            "flags": flag_names(int(m.flags), MapFlags), "key_type": key_t,
            "value_type": value_t, "internal": m.is_internal}


# Larger globals are listed with their size only: a value of megabytes (a .bss
# array costs nothing in the file) would drown the report.
_MAX_VALUE_BYTES = 4096


def _globals(obj: Any) -> list[dict[str, Any]]:
    g = obj.globals
    out = []
    for name in g:
        info = g.info(name)
        value = None
        try:
            if info.size <= _MAX_VALUE_BYTES:
                value = jsonable(g[name])
        except (OSError, ValueError, TypeError):
            value = None
        out.append({"name": name, "section": info.section,
                    "type": obj.btf.type_name(info.type), "size": info.size,
                    "value": value})
    return out


def describe(path: str) -> dict[str, Any]:
    """Everything ``inspect`` reports about the object file at ``path``."""
    from ..object import Object
    with Object.open(path) as obj:
        return describe_object(obj, path)


def describe_object(obj: Any, path: str) -> dict[str, Any]:
    """What ``inspect`` reports about the open object ``obj`` (read from ``path``)."""
    return {"object": path, "name": obj.name,
            "programs": [_program(p) for p in obj.programs.values()],
            "maps": [_map(obj, m) for m in obj.maps.values()],
            "globals": _globals(obj) if obj.btf is not None else []}


def render(d: dict[str, Any]) -> str:
    """The plain-text report of :func:`describe`'s data."""
    out = [f"object {d['object']} ({d['name']})\n", "\nprograms\n"]
    out.append(table(["NAME", "SECTION", "TYPE", "ATTACH", "TARGET", "INSNS"],
                     [[p["name"], p["section"], p["type"], p["attach"],
                       p["target"] or _no_target(p["attach"]), p["insns"]]
                      for p in d["programs"]], indent="  "))
    out.append("\nmaps\n")
    out.append(table(["NAME", "TYPE", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "BTF"],
                     [[m["name"], m["type"], m["key_size"], m["value_size"],
                       m["max_entries"], "|".join(m["flags"]),
                       f"{m['key_type'] or '-'}, {m['value_type'] or '-'}"
                       if m["key_type"] or m["value_type"] else None]
                      for m in d["maps"]], indent="  "))
    out.append("\nglobals\n")
    if d["globals"]:
        out.append(table(["NAME", "SECTION", "SIZE", "VALUE", "TYPE"],
                         [[g["name"], g["section"], g["size"], _short(g["value"]),
                           g["type"]] for g in d["globals"]], indent="  "))
    else:
        out.append("  (none)\n")
    return "".join(out)


# Kinds whose target is a BTF id fixed at load (set_attach_target before load).
_BTF_TARGETED = {"fentry", "fexit", "fmod_ret", "lsm", "freplace", "tp_btf", "iter",
                 "fentry.s", "fexit.s", "fmod_ret.s", "lsm.s", "iter.s"}


def _no_target(kind: str) -> str:
    return "(set before load)" if kind in _BTF_TARGETED else "(given at attach)"


def _short(value: Any) -> str:
    if isinstance(value, dict | list):
        import json
        return json.dumps(value, separators=(",", ":"))
    return "-" if value is None else str(value)


def cmd_inspect(args: argparse.Namespace) -> int:
    """``libbpfpy inspect`` (the file is read in a child process: see ``_isolated``)."""
    from ._isolated import isolated
    quiet_libbpf()
    return emit(isolated(args.object, describe, args.object), args.json, render)


def register(sub: Any) -> None:
    """Add the ``inspect`` subcommand."""
    p = sub.add_parser("inspect", help="list the programs, maps and globals of an object "
                       "file", description="List the programs (section, type, attach "
                       "point), maps (type, sizes, flags, BTF types) and global variables "
                       "(section, type, initial value) of a BPF object file.")
    p.add_argument("object", help="BPF object file (.o)")
    add_json_option(p)
    p.set_defaults(func=cmd_inspect)
