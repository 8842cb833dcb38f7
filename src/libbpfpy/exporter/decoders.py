"""Decoders: how the bytes of a map key become the text of a label.

A label's decoders run in a chain: the first gets the label's bytes from the key,
each later one gets what the one before produced, and the last result becomes the
label value.  A value between decoders is ``bytes``, an ``int`` or a ``str``; each
decoder says which it takes and what it gives, and a config whose chain does not
fit (``inet_ip`` after ``uint``) is refused when it is parsed.  A decoder returning
None drops the series (``regexp``).

=============  ======================  =================================================
name           takes -> gives          what it does
=============  ======================  =================================================
uint           bytes/str -> int        unsigned integer (``endian``: native, little, big)
string         bytes/int -> str        text up to the first NUL (UTF-8, bad bytes replaced)
hex            bytes/int -> str        hex digits (``0x``-prefixed for an int)
errno          bytes/int -> str        errno name (``ENOENT``); -errno is read as errno
syscall        bytes/int -> str        system call name, from the running kernel
ksym           bytes/int -> str        kernel symbol containing an address (kallsyms)
cgroup         bytes/int -> str        cgroup v2 id -> path below the cgroup root
inet_ip        bytes -> str            IPv4 (4 bytes) or IPv6 (16 bytes; IPv4-mapped
                                       ones shown as IPv4) address
ifname         bytes/int -> str        network interface index -> name
static_map     any -> str              a table in the config (``static_map``, ``default``)
regexp         any -> str or drop      keep the series only if a pattern matches
=============  ======================  =================================================

Bytes given to an int-taking decoder are read as a native-endian unsigned integer,
so ``[syscall]`` works as well as ``[uint, syscall]``.  Name lookups that fail (a
number the kernel does not know, an interface gone) give the number as text: a
series is never lost because a name is missing.
"""
from __future__ import annotations

import errno as _errno
import ipaddress
import re
import sys
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = ["Decoder", "DecoderError", "DECODERS", "build_chain", "default_chain",
           "run_chain", "Value"]

Value = bytes | int | str
BYTES, INT, STR = "bytes", "int", "str"


class DecoderError(ValueError):
    """A decoder name, option or chaining is wrong; ``index`` is the decoder's place
    in its chain."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def _as_int(value: Value) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        return int.from_bytes(value, sys.byteorder)
    return int(value, 0)


class Decoder:
    """One step of a label's decoder chain.  Subclasses set ``name``, ``takes``,
    ``gives`` and ``options`` (allowed option names), and implement ``__call__``."""

    name: ClassVar[str]
    takes: ClassVar[frozenset[str]] = frozenset({BYTES, INT, STR})
    gives: ClassVar[str] = STR
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        self.configure(options)

    def configure(self, options: dict[str, Any]) -> None:
        """Check and keep the options (only called with known option names)."""

    def check_size(self, size: int) -> str | None:
        """What is wrong with taking ``size`` raw bytes from the key, if anything."""
        return None

    def __call__(self, value: Value) -> Value | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<decoder {self.name}>"


class Uint(Decoder):
    name = "uint"
    takes = frozenset({BYTES, INT, STR})
    gives = INT
    options = ("endian",)
    _order: str = sys.byteorder

    def configure(self, options: dict[str, Any]) -> None:
        endian = options.get("endian", "native")
        if endian not in ("native", "little", "big"):
            raise ValueError(f"endian must be native, little or big, not {endian!r}")
        self._order = sys.byteorder if endian == "native" else endian

    def check_size(self, size: int) -> str | None:
        return "takes at most 16 bytes" if size > 16 else None

    def __call__(self, value: Value) -> Value | None:
        if isinstance(value, bytes):
            return int.from_bytes(value, self._order)  # type: ignore[arg-type]
        if isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                return None
        return value


class String(Decoder):
    name = "string"

    def __call__(self, value: Value) -> Value | None:
        if isinstance(value, bytes):
            return value.split(b"\0", 1)[0].decode("utf-8", errors="replace")
        return str(value)


class Hex(Decoder):
    name = "hex"
    takes = frozenset({BYTES, INT})

    def __call__(self, value: Value) -> Value | None:
        if isinstance(value, bytes):
            return value.hex()
        return hex(_as_int(value))


class Errno(Decoder):
    name = "errno"
    takes = frozenset({BYTES, INT, STR})

    def __call__(self, value: Value) -> Value | None:
        try:
            n = _as_int(value)
        except ValueError:
            return str(value)
        # -errno stored in an unsigned slot of 4 or 8 bytes reads as a huge number.
        if n >= 1 << 63:
            n -= 1 << 64
        elif n >= 1 << 31 and n < 1 << 32:
            n -= 1 << 32
        return _errno.errorcode.get(abs(n), str(n))


class _Lookup(Decoder):
    """A decoder that turns a number into a name through a kernel lookup; when the
    kernel has no name for it, the number is shown (in ``fallback`` form)."""

    takes = frozenset({BYTES, INT, STR})

    def check_size(self, size: int) -> str | None:
        return "takes at most 8 bytes" if size > 8 else None

    def lookup(self, n: int) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def fallback(self, n: int) -> str:
        return str(n)

    def __call__(self, value: Value) -> Value | None:
        try:
            n = _as_int(value)
        except ValueError:
            return str(value)
        return self.lookup(n) or self.fallback(n)


class Syscall(_Lookup):
    name = "syscall"

    def lookup(self, n: int) -> str | None:
        from .names import syscall_name
        return syscall_name(n)


class Ksym(_Lookup):
    name = "ksym"

    def lookup(self, n: int) -> str | None:
        from .names import ksym_name
        return ksym_name(n)

    def fallback(self, n: int) -> str:
        return hex(n)


class Cgroup(_Lookup):
    name = "cgroup"

    def lookup(self, n: int) -> str | None:
        from .names import cgroup_path
        return cgroup_path(n)


class Ifname(_Lookup):
    name = "ifname"

    def lookup(self, n: int) -> str | None:
        from .names import interface_name
        return interface_name(n)


class InetIp(Decoder):
    name = "inet_ip"
    takes = frozenset({BYTES})

    def check_size(self, size: int) -> str | None:
        return None if size in (4, 16) else f"takes 4 (IPv4) or 16 (IPv6) bytes, not {size}"

    def __call__(self, value: Value) -> Value | None:
        assert isinstance(value, bytes)
        if len(value) == 4:
            return str(ipaddress.IPv4Address(value))
        if len(value) == 16:
            v6 = ipaddress.IPv6Address(value)
            return str(v6.ipv4_mapped or v6)
        return value.hex()


class StaticMap(Decoder):
    name = "static_map"
    options = ("static_map", "default")
    _table: dict[str, str]
    _default: str | None

    def configure(self, options: dict[str, Any]) -> None:
        table = options.get("static_map")
        if not isinstance(table, dict) or not table:
            raise ValueError("needs 'static_map': a mapping of values to label text")
        self._table = {}
        for k, v in table.items():
            if isinstance(v, (dict, list)) or v is None:
                raise ValueError(f"static_map: {k!r} must map to text, not {v!r}")
            self._table[str(k)] = str(v)
        default = options.get("default")
        if isinstance(default, (dict, list)):
            raise ValueError("'default' must be text")
        self._default = None if default is None else str(default)

    def __call__(self, value: Value) -> Value | None:
        key = str(_as_int(value)) if isinstance(value, bytes) else str(value)
        found = self._table.get(key)
        if found is not None:
            return found
        return self._default if self._default is not None else key


class Regexp(Decoder):
    name = "regexp"
    options = ("regexps",)
    _patterns: list[re.Pattern[str]]

    def configure(self, options: dict[str, Any]) -> None:
        patterns = options.get("regexps")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns or \
                not all(isinstance(p, str) for p in patterns):
            raise ValueError("needs 'regexps': a list of regular expressions")
        self._patterns = []
        for p in patterns:
            try:
                self._patterns.append(re.compile(p))
            except re.error as exc:
                raise ValueError(f"regexps: {p!r} is not a valid regular expression: "
                                 f"{exc}") from None

    def __call__(self, value: Value) -> Value | None:
        text = value.split(b"\0", 1)[0].decode("utf-8", errors="replace") \
            if isinstance(value, bytes) else str(value)
        if any(p.search(text) for p in self._patterns):
            return text
        return None


DECODERS: dict[str, type[Decoder]] = {
    cls.name: cls for cls in (Uint, String, Hex, Errno, Syscall, Ksym, Cgroup, InetIp,
                              Ifname, StaticMap, Regexp)}


def build_chain(specs: Sequence[tuple[str, dict[str, Any]]]) -> list[Decoder]:
    """Decoders from ``(name, options)`` pairs, checking names, options and that each
    decoder takes what the one before gives (the first takes bytes)."""
    chain: list[Decoder] = []
    kind = BYTES
    prev = "the key"
    for i, (name, options) in enumerate(specs):
        cls = DECODERS.get(name)
        if cls is None:
            raise DecoderError(f"unknown decoder {name!r} (known: "
                               f"{', '.join(sorted(DECODERS))})", i)
        for opt in options:
            if opt not in cls.options:
                known = f" (it takes: {', '.join(cls.options)})" if cls.options else \
                    " (it takes none)"
                raise DecoderError(f"decoder {name!r}: unknown option {opt!r}{known}", i)
        if kind not in cls.takes:
            raise DecoderError(f"decoder {name!r} takes {'/'.join(sorted(cls.takes))}, "
                               f"but {prev} gives {kind}", i)
        try:
            chain.append(cls(**options))
        except ValueError as exc:
            raise DecoderError(f"decoder {name!r}: {exc}", i) from None
        kind, prev = cls.gives, f"decoder {name!r}"
    return chain


def default_chain(kind: str, size: int) -> list[Decoder]:
    """Decoders for a key part given without any: ``string`` for char arrays
    (``kind`` "string"), ``uint`` for integers up to 8 bytes, else ``hex``."""
    if kind == "string":
        return [String()]
    if size <= 8:
        return [Uint()]
    return [Hex()]


def run_chain(chain: Sequence[Decoder], raw: bytes) -> str | None:
    """The label text for ``raw`` through ``chain``, or None to drop the series."""
    value: Value = raw
    for decoder in chain:
        out = decoder(value)
        if out is None:
            return None
        value = out
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
