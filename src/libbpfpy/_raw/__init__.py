"""The raw layer: libbpf's C API through ctypes, with no logic of its own.

``lib.<function>`` is the libbpf function with its prototype applied, bound on first
use.  The prototypes live in :mod:`._table` (generated from libbpf's headers by
``scripts/gen_raw.py``) and :mod:`._newer` (functions of libbpf releases newer than
the one the table was generated from).  A function that the installed library does
not export raises :class:`~libbpfpy.errors.NotSupportedError` naming the libbpf
version that has it -- when it is *used*, never at import.

Return codes are checked in exactly two helpers, :func:`check_int` (negative =
-errno) and :func:`check_ptr` (NULL, errno set by libbpf >= 1.0).

No exception is lost in libbpf's print callback: one raised there (``KeyboardInterrupt``
from Ctrl-C, an exception from a signal handler or a logging handler) cannot cross
into C, so it is kept and raised when the libbpf call returns (see
:func:`raise_pending`).

Set ``LIBBPFPY_LIBBPF=/path/to/libbpf.so`` to use a library other than the system's.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
from typing import Any

from .._deferred import any_pending, keep, raise_pending, register
from ..errors import NotSupportedError, error_for
from . import _newer, _table

# The generated table is not type-checked (it is plain ctypes declarations); give its
# contents the types the rest of the package relies on.
RECORDS: dict[str, Any] = _table.RECORDS
CALLBACKS: dict[str, Any] = _table.CALLBACKS
ENUMS: dict[str, dict[str, int]] = _table.ENUMS
CONSTANTS: dict[str, int] = _table.CONSTANTS
_PROTOTYPES: dict[str, tuple[Any, ...]] = _table.PROTOTYPES
_NEWER: dict[str, tuple[Any, ...]] = _newer.PROTOTYPES
_SINCE: dict[str, str] = _table.SINCE

__all__ = ["lib", "libc", "check_int", "check_ptr", "library_path", "version",
           "version_tuple", "is_available", "opts", "ENUMS", "CONSTANTS", "RECORDS",
           "CALLBACKS", "capture_log", "LoadError", "raise_pending", "unchecked"]


from ..errors import LoadError  # noqa: E402  (re-exported: defined where it imports free)


def _find_library() -> str:
    explicit = os.environ.get("LIBBPFPY_LIBBPF")
    if explicit:
        return explicit
    # The soname is the ABI these prototypes describe, and the dynamic loader finds
    # it without ctypes.util.find_library, which runs ldconfig (~15 ms per start).
    for candidate in ("libbpf.so.1",):
        try:
            ctypes.CDLL(candidate)
            return candidate
        except OSError:
            continue
    from ctypes import util  # slow (it imports subprocess): only when the soname is absent
    found = util.find_library("bpf")
    if found:
        return found
    raise LoadError("libbpf not found: install libbpf1 (Debian: apt install libbpf1) "
                    "or set LIBBPFPY_LIBBPF=/path/to/libbpf.so.1")


library_path = _find_library()
try:
    _cdll = ctypes.CDLL(library_path, use_errno=True)
except OSError as exc:  # pragma: no cover - depends on the machine
    raise LoadError(f"cannot load libbpf from {library_path}: {exc}") from exc
libc = ctypes.CDLL(None, use_errno=True)


def _version() -> tuple[int, int]:
    major = ctypes.CFUNCTYPE(ctypes.c_uint32)(("libbpf_major_version", _cdll))()
    minor = ctypes.CFUNCTYPE(ctypes.c_uint32)(("libbpf_minor_version", _cdll))()
    return int(major), int(minor)


version_tuple: tuple[int, int] = _version()
version = f"{version_tuple[0]}.{version_tuple[1]}"


def _since(name: str) -> str | None:
    if name in _SINCE:
        return _SINCE[name]
    if name in _NEWER:
        return str(_NEWER[name][0])
    return None


class _Lib:
    """Namespace of libbpf functions, each bound with its prototype on first use."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        proto: tuple[Any, ...]
        if name in _PROTOTYPES:
            proto = _PROTOTYPES[name]
        elif name in _NEWER:
            proto = _NEWER[name][1:]
        else:
            raise AttributeError(f"libbpf has no public function {name!r}")
        try:
            fn = getattr(_cdll, name)
        except AttributeError:
            need = _since(name) or "?"
            raise NotSupportedError(
                f"{name}() needs libbpf >= {need}; the installed libbpf is {version} "
                f"({library_path})", feature=name, requires=f"libbpf >= {need}",
                call=name) from None
        fn.restype = proto[0]
        fn.argtypes = proto[1]
        if _may_print(name):
            fn = _deferring(fn)
        setattr(self, name, fn)
        return fn

    def has(self, name: str) -> bool:
        """Whether the installed libbpf exports ``name``."""
        return hasattr(_cdll, name)


lib = _Lib()


# libbpf_* functions that only return a value (they never print).
_QUIET = frozenset({"libbpf_major_version", "libbpf_minor_version", "libbpf_version_string",
                    "libbpf_get_error", "libbpf_set_print", "libbpf_set_strict_mode",
                    "libbpf_strerror", "libbpf_set_memlock_rlim"})


def _may_print(name: str) -> bool:
    """Whether libbpf's function ``name`` can call the print callback: all but the
    thin syscall wrappers of bpf.c (``bpf_map_lookup_elem``...), which never print
    (netlink's ``bpf_tc_*``/``bpf_xdp_*`` do), and a few pure getters."""
    if name in _QUIET or (name.startswith("libbpf_") and name.endswith("_str")):
        return False
    return "__" in name or name.startswith(("libbpf_", "bpf_tc_", "bpf_xdp_"))


_POINTER_CODES = frozenset("Pz")


def _deferring(fn: Any) -> Any:
    """``fn`` followed by raising what its print callbacks kept.  A function that
    returns a pointer leaves the exception pending: for a new object, the caller
    raises it with :func:`raise_pending` once the object is owned (and closes it then),
    so nothing leaks; for NULL, :func:`check_ptr` raises it."""
    restype = fn.restype
    returns_pointer = restype is not None and (
        getattr(restype, "_type_", None) in _POINTER_CODES or
        isinstance(restype, type) and issubclass(restype, ctypes._Pointer))

    def call(*args: Any) -> Any:
        ret = fn(*args)
        if any_pending and not returns_pointer:
            raise_pending()
        return ret

    call.__name__ = call.__qualname__ = getattr(fn, "__name__", "libbpf_function")
    call.restype = restype  # type: ignore[attr-defined]
    call.argtypes = fn.argtypes  # type: ignore[attr-defined]
    call.unchecked = fn  # type: ignore[attr-defined]  # when the caller raises itself
    return call


def is_available(name: str) -> bool:
    """Whether the installed libbpf exports the function ``name``."""
    return lib.has(name)


# -- the two error helpers -------------------------------------------------------------

def check_int(ret: int, call: str, target: str | None = None, *,
              hint: str | None = None) -> int:
    """Return ``ret`` if it is >= 0, else raise the error that ``-ret`` names."""
    if ret < 0:
        raise error_for(-ret, _describe(call, target, -ret), call=call, target=target,
                        hint=hint)
    return ret


def check_ptr(ptr: Any, call: str, target: str | None = None, *,
              hint: str | None = None) -> Any:
    """Return ``ptr`` if it is not NULL, else raise the error libbpf left in errno
    (or first what a callback kept meanwhile, such as a Ctrl-C)."""
    if not ptr:
        raise_pending()
        err = ctypes.get_errno() or 22
        raise error_for(err, _describe(call, target, err), call=call, target=target,
                        hint=hint)
    return ptr


def _describe(call: str, target: str | None, err: int) -> str:
    from ..errors import strerror
    where = f" on {target}" if target else ""
    return f"{call}(){where} failed: {strerror(err)} [errno {err}]"


# -- opts structs ------------------------------------------------------------------------

def _field_types(cls: Any) -> dict[str, Any]:
    types: dict[str, Any] = {}
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field in cls._fields_:
        if field[0] in anonymous:
            types.update(_field_types(field[1]))
        types[field[0]] = field[1:]   # (ctype,) or (ctype, bit width)
    return types


_INT_CODES = {"b": (8, True), "B": (8, False), "h": (16, True), "H": (16, False),
              "i": (32, True), "I": (32, False), "l": (64, True), "L": (64, False),
              "q": (64, True), "Q": (64, False)}


def _check_int_field(struct_name: str, name: str, field: tuple[Any, ...],
                     value: Any) -> None:
    """Refuse what ctypes would silently truncate into an integer field."""
    ctype = field[0]
    code = getattr(ctype, "_type_", None)
    if not isinstance(code, str) or code not in _INT_CODES:
        return
    bits, signed = _INT_CODES[code]
    bits = min(bits, 8 * ctypes.sizeof(ctype), *field[1:])
    what = f"{name} (struct {struct_name})"
    if isinstance(value, float) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    v = value.__index__()
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= v <= high:
        raise OverflowError(f"{what} must fit in {'a signed' if signed else 'an unsigned'} "
                            f"{bits}-bit integer ({low}..{high}), got {v}")


def opts(struct_name: str, **fields: Any) -> Any:
    """Build a libbpf ``*_opts`` struct with ``sz`` set, like LIBBPF_OPTS() in C.

    Fields given as None keep libbpf's default (zero).  A name the struct does not
    have is a TypeError: ctypes would otherwise silently add a Python attribute.
    """
    cls = RECORDS[struct_name]
    known = _field_types(cls)
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise TypeError(f"struct {struct_name} has no field {', '.join(unknown)}")
    value = cls()
    if "sz" in known:
        value.sz = ctypes.sizeof(cls)
    for key, val in fields.items():
        if val is not None:
            _check_int_field(struct_name, key, known[key], val)
            setattr(value, key, val)
    return value


# -- libbpf's log into logging ------------------------------------------------------

log = logging.getLogger("libbpfpy.libbpf")
_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}
_capture = threading.local()

_vsnprintf = libc.vsnprintf
_vsnprintf.restype = ctypes.c_int
_vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]


# On x86_64 and aarch64 a va_list is a small struct and va_copy() is a plain copy of
# it, so a message that did not fit is formatted again from a saved copy.  Elsewhere
# a large buffer is used once.
_VA_TAG = RECORDS.get("__va_list_tag")
_VA_SIZE = ctypes.sizeof(_VA_TAG) if _VA_TAG is not None and \
    os.uname().machine in ("x86_64", "aarch64") else 0


def _format(fmt: bytes, args: Any) -> str:
    ptr = ctypes.cast(args, ctypes.c_void_p).value
    if ptr is None:
        return fmt.decode("utf-8", "replace")
    if not _VA_SIZE:
        buf = ctypes.create_string_buffer(1 << 20)
        _vsnprintf(buf, len(buf), fmt, ptr)
        return buf.value.decode("utf-8", "replace")
    saved = ctypes.string_at(ptr, _VA_SIZE)
    buf = ctypes.create_string_buffer(4096)
    need = _vsnprintf(buf, len(buf), fmt, ptr)
    if need >= len(buf):
        ctypes.memmove(ptr, saved, _VA_SIZE)
        buf = ctypes.create_string_buffer(need + 1)
        _vsnprintf(buf, len(buf), fmt, ptr)
    return buf.value.decode("utf-8", "replace")


def _print(level: int, fmt: bytes, args: Any) -> int:
    try:
        sink = getattr(_capture, "lines", None)
        quiet = getattr(_capture, "quiet", False)
        pylevel = _LEVELS.get(level, logging.DEBUG)
        loud = not quiet and log.isEnabledFor(pylevel)
        if sink is None and not loud:
            return 0
        text = _format(fmt, args)
        if sink is not None:
            sink.append(text)
        if loud:
            log.log(pylevel, "%s", text.rstrip("\n"))
    except BaseException as exc:  # none may cross into C (ctypes would drop it)
        keep(exc)
    return 0


_print_cb = CALLBACKS["libbpf_print_fn_t"](register(_print))


class capture_log:
    """Context manager collecting libbpf's messages printed in this thread.

    Used around loads so that a verifier log reaches :class:`VerifierError` whatever
    the logging configuration.  With ``quiet=True`` the messages are not logged as
    well: for calls whose failure becomes an exception carrying them, or is expected.
    """

    def __init__(self, *, quiet: bool = False, raise_pending: bool = True) -> None:
        self._quiet = quiet
        self._raise = raise_pending

    def __enter__(self) -> list[str]:
        self._prev = getattr(_capture, "lines", None)
        self._prev_quiet = getattr(_capture, "quiet", False)
        _capture.lines = []
        _capture.quiet = self._quiet or self._prev_quiet
        return _capture.lines  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        mine = _capture.lines
        _capture.lines = self._prev
        _capture.quiet = self._prev_quiet
        if self._prev is not None:  # an enclosing capture sees nested messages too
            self._prev.extend(mine)
        if exc[0] is None and self._raise:
            raise_pending()


lib.libbpf_set_print(_print_cb)


def unchecked(fn: Any) -> Any:
    """``lib.f`` without raising a kept exception on return: for callers that must
    record the result first (then call :func:`raise_pending`)."""
    return getattr(fn, "unchecked", fn)
