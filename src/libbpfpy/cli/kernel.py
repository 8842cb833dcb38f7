"""``libbpfpy prog|map|link``: what is loaded in the kernel, like bpftool's listings.

    libbpfpy prog list            libbpfpy map list          libbpfpy link list
    libbpfpy prog show ID         libbpfpy map show MAP
                                  libbpfpy map dump MAP
(MAP as bpftool takes it: an id, a name or a pin path, or ``id N``, ``name X``,
``pinned PATH``.)

Map dumps read with batch lookups (one syscall per chunk) where the kernel has
them, and decode keys and values with the map's BTF when it has some (structs as
fields, char arrays as text); without BTF, keys and values are ints or hex bytes.
Everything here needs CAP_SYS_ADMIN (walking ids, opening objects by id).
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import time
from typing import Any

from ._output import add_json_option, emit, flag_names, hexbytes, jsonable, quiet_libbpf, table


def _boot_to_wall(ns_since_boot: int) -> float:
    """Wall-clock time of a CLOCK_BOOTTIME instant (program load times)."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME) + ns_since_boot / 1e9


def _fmt_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


# -- programs --------------------------------------------------------------------------------
def _prog_dict(info: Any) -> dict[str, Any]:
    d: dict[str, Any] = jsonable(dataclasses.asdict(info))
    d["type"] = info.type.libbpf_name
    d["loaded_at"] = _fmt_time(_boot_to_wall(info.load_time_ns))
    return d


def cmd_prog_list(args: argparse.Namespace) -> int:
    """``libbpfpy prog list``."""
    quiet_libbpf()
    from .. import inventory
    progs = sorted((_prog_dict(p) for p in inventory.programs()), key=lambda d: d["id"])
    return emit(progs, args.json, lambda ps: table(
        ["ID", "TYPE", "NAME", "TAG", "LOADED_AT", "UID", "XLATED", "JITED", "MAPS"],
        [[p["id"], p["type"], p["name"], p["tag"], p["loaded_at"], p["created_by_uid"],
          p["xlated_size"], p["jited_size"], ",".join(map(str, p["map_ids"]))]
         for p in ps]))


def _links_by_prog() -> dict[int, list[int]]:
    from .. import inventory
    out: dict[int, list[int]] = {}
    for link in inventory.links():
        out.setdefault(link.prog_id, []).append(link.id)
    return out


def _show(d: dict[str, Any]) -> str:
    return table(["FIELD", "VALUE"], [[k, _cell(v)] for k, v in d.items()])


def _cell(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ",".join(map(str, v)) or "-"
    if isinstance(v, dict):
        return json.dumps(v, separators=(",", ":"))
    return "-" if v is None else str(v)


def cmd_prog_show(args: argparse.Namespace) -> int:
    """``libbpfpy prog show ID``."""
    quiet_libbpf()
    from .. import inventory
    with inventory.open_program(args.id) as prog:
        d = _prog_dict(prog.info())
    d["link_ids"] = sorted(_links_by_prog().get(args.id, []))
    return emit(d, args.json, _show)


# -- maps ----------------------------------------------------------------------------------
def _map_dict(info: Any) -> dict[str, Any]:
    from ..enums import MapFlags
    d: dict[str, Any] = jsonable(dataclasses.asdict(info))
    d["type"] = info.type.libbpf_name
    d["flags"] = flag_names(info.flags, MapFlags)
    return d


def cmd_map_list(args: argparse.Namespace) -> int:
    """``libbpfpy map list``."""
    quiet_libbpf()
    from .. import inventory
    maps = sorted((_map_dict(m) for m in inventory.maps()), key=lambda d: d["id"])
    return emit(maps, args.json, lambda ms: table(
        ["ID", "TYPE", "NAME", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "BTF_ID"],
        [[m["id"], m["type"], m["name"], m["key_size"], m["value_size"],
          m["max_entries"], "|".join(m["flags"]), m["btf_id"] or None] for m in ms]))


def _btf_types(info: Any) -> tuple[Any, str | None, str | None]:
    """(BTF, key type name, value type name) of a map, or (None, None, None)."""
    if not info.btf_id:
        return None, None, None
    from ..btf import BTF
    try:
        btf = BTF.from_id(info.btf_id)
    except OSError:
        return None, None, None
    k = btf.type_name(info.btf_key_type_id) if info.btf_key_type_id else None
    v = btf.type_name(info.btf_value_type_id) if info.btf_value_type_id else None
    return btf, k, v


def cmd_map_show(args: argparse.Namespace) -> int:
    """``libbpfpy map show ID|NAME|PIN``."""
    quiet_libbpf()
    with _open_map(args.map) as m:
        info = m.info()
    d = _map_dict(info)
    btf, d["key_type"], d["value_type"] = _btf_types(info)
    if btf is not None:
        btf.close()
    return emit(d, args.json, _show)


_MAP_REF_KINDS = ("id", "name", "pinned")


def _open_map(ref: list[str]) -> Any:
    """Open the map ``ref`` names, as bpftool takes it: ``ID``, ``NAME`` or a pin
    ``PATH`` alone, or spelled out as ``id ID``, ``name NAME``, ``pinned PATH``."""
    from .. import inventory
    from ..errors import BPFError
    from ..map import MapHandle
    if len(ref) == 2 and ref[0] in _MAP_REF_KINDS:
        kind, value = ref
    elif len(ref) == 1:
        value = ref[0]
        kind = "id" if value.isdigit() else "pinned" if "/" in value else "name"
    else:
        raise BPFError(errno.EINVAL, f"not a map: {' '.join(ref)!r} (give ID, NAME or "
                       "PATH, or id ID, name NAME, pinned PATH)")
    if kind == "id":
        if not value.isdigit():
            raise BPFError(errno.EINVAL, f"not a map id: {value!r}")
        return inventory.open_map(int(value))
    if kind == "pinned":
        return MapHandle.from_pin(value)
    # The kernel keeps the first 15 bytes of a name.
    ids = sorted(m.id for m in inventory.maps() if m.name == value[:15])
    if not ids:
        raise BPFError(errno.ENOENT, f"no loaded map is named {value!r} (libbpfpy map "
                       "list shows them)", target=value)
    if len(ids) > 1:
        raise BPFError(errno.EINVAL, f"{len(ids)} loaded maps are named {value!r} (ids "
                       f"{', '.join(map(str, ids))}): give an id", target=value)
    return inventory.open_map(ids[0])


class _Typed:
    """Decodes raw key/value data with BTF types where the map has them."""

    def __init__(self, m: Any, info: Any) -> None:
        from .._codec import RawCodec
        self.raw_key = RawCodec(info.key_size, "key")
        self.raw_value = RawCodec(info.value_size, "value")
        self.btf, self.key_type, self.value_type = _btf_types(info)
        self.key_codec = self._codec(info.btf_key_type_id, info.key_size)
        self.value_codec = self._codec(info.btf_value_type_id, info.value_size)

    def _codec(self, type_id: int, size: int) -> Any:
        if self.btf is None or not type_id:
            return None
        try:
            codec = self.btf.codec(type_id)
        except (TypeError, ValueError, KeyError):
            return None
        return codec if codec.size == size else None

    def _one(self, raw_codec: Any, codec: Any, v: Any) -> Any:
        data = raw_codec.encode(v)
        if codec is not None:
            return jsonable(codec.decode(data))
        return v if isinstance(v, int) else hexbytes(data)

    def key(self, k: Any) -> Any:
        return self._one(self.raw_key, self.key_codec, k)

    def value(self, v: Any) -> Any:
        if isinstance(v, list):        # per-CPU: one value per possible CPU
            return [self._one(self.raw_value, self.value_codec, x) for x in v]
        return self._one(self.raw_value, self.value_codec, v)

    def close(self) -> None:
        if self.btf is not None:
            self.btf.close()


def _entries(m: Any) -> list[tuple[Any, Any]]:
    from ..errors import BPFError, NotSupportedError
    try:
        entries: list[tuple[Any, Any]] = m.lookup_batch()
        return entries
    except NotSupportedError:
        pass
    except BPFError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, 524):
            raise
    return list(m.items())      # no batch ops for this map type: key by key


def cmd_map_dump(args: argparse.Namespace) -> int:
    """``libbpfpy map dump ID|NAME|PIN``."""
    quiet_libbpf()
    from ..enums import MapType
    from ..errors import BPFError
    with _open_map(args.map) as m:
        info = m.info()
        if info.type in (MapType.RINGBUF, MapType.USER_RINGBUF, MapType.PERF_EVENT_ARRAY):
            raise BPFError(errno.EINVAL, f"map {info.id} ({info.name}) is a "
                           f"{info.type.libbpf_name}: it streams events and has no "
                           "entries to dump", target=info.name)
        typed = _Typed(m, info)
        try:
            rows = [{"key": typed.key(k), "value": typed.value(v)}
                    for k, v in _entries(m)]
        finally:
            typed.close()

    def render(rs: list[dict[str, Any]]) -> str:
        body = table(["KEY", "VALUE"], [[_cell(r["key"]), _cell(r["value"])] for r in rs])
        count = "1 entry" if len(rs) == 1 else f"{len(rs)} entries"
        return body + f"{count} (map {info.id} {info.name}, " \
            f"{typed.key_type or 'untyped'} -> {typed.value_type or 'untyped'})\n"
    return emit(rows, args.json, render)


# -- links ---------------------------------------------------------------------------------
def cmd_link_list(args: argparse.Namespace) -> int:
    """``libbpfpy link list``."""
    quiet_libbpf()
    from .. import inventory
    names: dict[int, str | None] = {}

    def prog_name(pid: int) -> str | None:
        if pid not in names:
            try:
                with inventory.open_program(pid) as p:
                    names[pid] = p.info().name
            except OSError:
                names[pid] = None
        return names[pid]

    links = []
    for li in sorted(inventory.links(), key=lambda x: x.id):
        links.append({"id": li.id, "type": li.type.libbpf_name, "prog_id": li.prog_id,
                      "prog_name": prog_name(li.prog_id),
                      "attach_type": li.attach_type.libbpf_name if li.attach_type is not None
                      else None, "target": jsonable(li.target)})
    return emit(links, args.json, lambda ls: table(
        ["ID", "TYPE", "PROG_ID", "PROG_NAME", "ATTACH_TYPE", "TARGET"],
        [[x["id"], x["type"], x["prog_id"], x["prog_name"], x["attach_type"],
          ",".join(f"{k}={v}" for k, v in x["target"].items())] for x in ls]))


# -- registration ----------------------------------------------------------------------------
def _action(actions: Any, name: str, help: str, func: Any, *positional: tuple[str, dict[str, Any]]
            ) -> None:
    """Add one ``ACTION`` with its positional arguments and ``--json``."""
    p = actions.add_parser(name, help=help)
    for arg, kw in positional:
        p.add_argument(arg, **kw)
    add_json_option(p)
    p.set_defaults(func=func)


def register(sub: Any) -> None:
    """Add the ``prog``, ``map`` and ``link`` subcommands."""
    by_id = ("id", {"type": int})
    prog = sub.add_parser("prog", help="loaded programs (list, show ID)")
    psub = prog.add_subparsers(dest="action", metavar="ACTION", required=True)
    _action(psub, "list", "every loaded program", cmd_prog_list)
    _action(psub, "show", "one program by id", cmd_prog_show, by_id)

    mp = sub.add_parser("map", help="maps (list, show MAP, dump MAP)")
    msub = mp.add_subparsers(dest="action", metavar="ACTION", required=True)
    by_ref = ("map", {"metavar": "MAP", "nargs": "+",
                      "help": "a map as bpftool takes it: ID, NAME or PATH of a pin, or "
                      "'id ID', 'name NAME', 'pinned PATH'"})
    _action(msub, "list", "every map", cmd_map_list)
    _action(msub, "show", "one map", cmd_map_show, by_ref)
    _action(msub, "dump", "a map's entries (typed with its BTF)", cmd_map_dump, by_ref)

    link = sub.add_parser("link", help="links (list)")
    lsub = link.add_subparsers(dest="action", metavar="ACTION", required=True)
    _action(lsub, "list", "every link", cmd_link_list)
