"""Output shared by the inspection commands: aligned text tables, or JSON.

Every command builds plain data (dicts, lists, ints, strings) once; ``--json``
prints it as JSON, otherwise a text renderer lays it out in aligned columns.
"""
from __future__ import annotations

import ctypes
import enum
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["table", "emit", "jsonable", "flag_names", "hexbytes", "quiet_libbpf"]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "") -> str:
    """Rows under headers in columns two spaces apart; the last column unpadded."""
    cells = [[str(h) for h in headers]] + [["-" if v is None or v == "" else str(v)
                                            for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True)] + [r[-1]]
        lines.append((indent + "  ".join(parts)).rstrip())
    return "\n".join(lines) + "\n"


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: enums by name, bytes as text or hex, ctypes
    structures as dicts, arrays as lists."""
    if isinstance(value, enum.Enum):
        return getattr(value, "libbpf_name", None) or value.name
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        text = raw.split(b"\0", 1)[0]
        if text and text.isascii() and text.decode().isprintable() and \
                not raw[len(text):].strip(b"\0"):
            return text.decode()
        return hexbytes(raw)
    if isinstance(value, ctypes.Structure | ctypes.Union):
        # BTF-built types list their C members (padding left out); plain ctypes
        # types have only _fields_.
        members = getattr(type(value), "_btf_members_", None)
        names = [m[0] for m in members] if members is not None else \
            [f[0] for f in value._fields_]
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, ctypes.Array):
        return [jsonable(v) for v in value]
    if isinstance(value, ctypes._SimpleCData):
        return jsonable(value.value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def hexbytes(raw: bytes) -> str:
    """Bytes as space-separated hex pairs (``"01 00 00 00"``), as bpftool prints them."""
    return " ".join(f"{b:02x}" for b in raw)


def flag_names(flags: int, names: type[enum.IntFlag]) -> list[str]:
    """The names of the bits set in ``flags`` (unknown bits in hex)."""
    out = [m.name for m in names if m.value and flags & m.value == m.value and m.name]
    rest = flags & ~sum(m.value for m in names)
    if rest:
        out.append(hex(rest))
    return out


def add_json_option(parser: Any) -> None:
    """The ``--json`` option every inspection command takes (read by :func:`emit`)."""
    parser.add_argument("--json", action="store_true", help="JSON output")


def emit(data: Any, as_json: bool, render: Callable[[Any], str]) -> int:
    """Print ``data`` as JSON or through ``render``; return exit status 0."""
    if as_json:
        sys.stdout.write(json.dumps(jsonable(data), indent=2) + "\n")
    else:
        sys.stdout.write(render(data))
    return 0


def quiet_libbpf() -> None:
    """Keep libbpf's own log lines off stderr: the errors raised already carry
    libbpf's last message, and a second copy is noise."""
    log = logging.getLogger("libbpfpy.libbpf")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
        log.propagate = False
