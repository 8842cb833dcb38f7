"""Exception hierarchy of libbpfpy.

Every failure of a libbpf call or a BPF syscall is a :class:`BPFError`, which is an
:class:`OSError` carrying ``errno`` and a message that names the call and the object
involved and, where there is one, what to do about it.  Subclasses say *why*:

* :class:`VerifierError` -- the kernel's verifier rejected a program (``.log``);
* :class:`NotSupportedError` -- the kernel or the installed libbpf lacks a feature;
* :class:`PermissionDeniedError` -- missing privileges (also a ``PermissionError``);
* :class:`ClosedError` -- the object was closed (also a ``ValueError``, as for files);
* :class:`CompileError` -- clang rejected BPF C source (``.diagnostics``);
* :class:`FormatError` -- a file or blob (ELF object, BTF) is malformed (also a
  ``ValueError``); it is refused before libbpf reads it.
"""
from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "LoadError", "BPFError", "VerifierError", "NotSupportedError", "PermissionDeniedError",
    "ClosedError", "CompileError", "FormatError", "strerror", "a_or_an",
]

# libbpf's own error codes (LIBBPF_ERRNO__*), which it returns negated like errnos.
_LIBBPF_ERRNO = {
    4000: "something wrong in libelf",
    4001: "BPF object format invalid",
    4002: "'version' section incorrect or lost",
    4003: "endian mismatch between object and host",
    4004: "internal error in libbpf",
    4005: "relocation failed",
    4006: "kernel version mismatch",
    4007: "kernel verifier blocks program loading",
    4008: "program too large",
    4009: "incorrect kernel version",
    4010: "kernel doesn't support this program type",
    4011: "wrong pid/tgid of netlink socket",
    4012: "invalid netlink sequence",
    4013: "netlink operation failed",
}

PRIVILEGE_HINT = "run as root or grant CAP_BPF and CAP_PERFMON (CAP_NET_ADMIN for networking)"


def a_or_an(word: str) -> str:
    """``word`` with its indefinite article, for messages: ``"an iter"``, ``"a hash"``."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def strerror(err: int) -> str:
    """Describe an errno value, including libbpf's private codes (4000-4013)."""
    err = abs(err)
    if err in _LIBBPF_ERRNO:
        return _LIBBPF_ERRNO[err]
    return os.strerror(err)


class LoadError(ImportError):
    """libbpf could not be found or loaded (raised when libbpfpy first needs it)."""


class BPFError(OSError):
    """A libbpf call or BPF syscall failed.

    Attributes: ``errno`` (positive), ``strerror``, ``call`` (the libbpf function or
    operation), ``target`` (the object, program or map it acted on, if any) and
    ``hint`` (what the user can do, if known).
    """

    def __init__(self, err: int, message: str, *, call: str | None = None,
                 target: str | None = None, hint: str | None = None) -> None:
        err = abs(err)
        super().__init__(err, strerror(err))
        self.call = call
        self.target = target
        self.hint = hint
        self.message = message

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild, (type(self), self.errno, self.message, self.call,
                           self.target, self.hint, self.__dict__))


def _rebuild(cls, err, message, call, target, hint, state):  # type: ignore[no-untyped-def]
    exc = cls.__new__(cls)
    BPFError.__init__(exc, err, message, call=call, target=target, hint=hint)
    exc.__dict__.update(state)
    return exc


class PermissionDeniedError(BPFError, PermissionError):
    """The caller lacks the privileges the operation needs (EPERM/EACCES)."""


class NotSupportedError(BPFError):
    """The running kernel or the installed libbpf does not support a feature.

    ``feature`` names it; ``requires`` says what would (e.g. ``"libbpf >= 1.3"``).
    """

    def __init__(self, message: str, *, feature: str | None = None,
                 requires: str | None = None, err: int = _errno.EOPNOTSUPP,
                 call: str | None = None, target: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(err, message, call=call, target=target, hint=hint)
        self.feature = feature
        self.requires = requires


class ClosedError(BPFError, ValueError):
    """An operation used an object, program, map, link or buffer after it was closed."""

    def __init__(self, what: str) -> None:
        super().__init__(_errno.EBADF, f"{what} is closed", target=what)


class VerifierError(BPFError):
    """The kernel's verifier rejected a program.

    ``log`` holds the complete verifier log; ``program`` the program's name.
    ``str()`` shows only the last meaningful lines, where the reason usually is.
    """

    TAIL_LINES = 12

    def __init__(self, err: int, message: str, *, log: str, program: str | None = None,
                 call: str | None = None) -> None:
        super().__init__(err, message, call=call, target=program)
        self.log = log
        self.program = program

    def __str__(self) -> str:
        lines = [ln for ln in self.log.splitlines()
                 if ln.strip() and not ln.startswith(("processed ", "verification time"))]
        tail = "\n".join("    " + ln for ln in lines[-self.TAIL_LINES:])
        return f"{self.message}\n  verifier log (last lines; full log in .log):\n{tail}"


class CompileError(BPFError):
    """clang failed to compile BPF C source; ``diagnostics`` holds its stderr."""

    def __init__(self, message: str, *, diagnostics: str, returncode: int) -> None:
        super().__init__(_errno.EINVAL, message, call="compile")
        self.diagnostics = diagnostics
        self.returncode = returncode

    def __str__(self) -> str:
        return f"{self.message}\n{self.diagnostics.rstrip()}"


class FormatError(BPFError, ValueError):
    """A BPF object file or a BTF blob is malformed: refused before libbpf reads it.

    ``source`` names the file or blob, ``where`` the part that is wrong (an ELF
    section, a symbol, a BTF type id...)."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        text = f"{source}: {where}: {problem}" if where else f"{source}: {problem}"
        super().__init__(_errno.EINVAL, f"malformed {text}", target=source)
        self.source = source
        self.where = where
        self.problem = problem


def error_for(err: int, message: str, *, call: str | None = None,
              target: str | None = None, hint: str | None = None) -> BPFError:
    """Build the most specific :class:`BPFError` subclass for ``err``."""
    err = abs(err)
    if err in (_errno.EPERM, _errno.EACCES):
        return PermissionDeniedError(err, message, call=call, target=target,
                                     hint=hint or _privilege_hint())
    if err in (_errno.EOPNOTSUPP, 524, 4010):  # 524: kernel-internal ENOTSUPP
        return NotSupportedError(message, err=err, call=call, target=target, hint=hint)
    return BPFError(err, message, call=call, target=target, hint=hint)


def _privilege_hint() -> str | None:
    # Root with full capabilities that still gets EPERM is told something else by
    # the caller (a refused feature, a lockdown); only suggest privileges when they
    # are plausibly missing.
    from ._caps import has_bpf_privileges
    return None if has_bpf_privileges() else PRIVILEGE_HINT
