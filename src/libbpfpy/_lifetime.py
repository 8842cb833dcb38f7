"""Ownership rules shared by every wrapper that owns a libbpf resource or an fd.

* ``close()`` is idempotent; any other use after close raises :class:`ClosedError`.
* Owners know their dependants (programs' links, ring buffers over an object's maps)
  and close them first, so nothing ever touches memory libbpf has freed.
* A ``weakref.finalize`` releases what the user forgot to close.  Each time it has
  to, :data:`leaks` counts it and a ``ResourceWarning`` is issued; the test suite
  fails on any count, so the safety net is never relied upon silently.
"""
from __future__ import annotations

import collections
import errno
import os
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from .errors import ClosedError

#: How many resources of each kind were released by the garbage collector instead
#: of by close().  Tests assert this stays empty.
leaks: collections.Counter[str] = collections.Counter()
_leaks_lock = threading.Lock()


def _net(kind: str, release: Callable[..., Any], *args: Any) -> None:
    with _leaks_lock:
        leaks[kind] += 1
    try:
        warnings.warn(f"libbpfpy: unclosed {kind} released by the garbage collector",
                      ResourceWarning, stacklevel=2)
    except Exception:  # warnings may be unusable during interpreter shutdown
        pass
    release(*args)


class Owner:
    """Base class of everything that owns a libbpf object or a file descriptor."""

    _kind = "resource"

    def __init__(self) -> None:
        self._closed = False
        self._dependants: list[weakref.ref[Owner]] = []
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.RLock()

    def _arm(self, release: Callable[..., Any], *args: Any) -> None:
        """Register ``release(*args)`` as the safety net for this owner."""
        self._finalizer = weakref.finalize(self, _net, self._kind, release, *args)

    def _disarm(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def _adopt(self, dependant: Owner) -> None:
        """Close ``dependant`` whenever this owner closes."""
        self._check()
        self._dependants = [r for r in self._dependants if r() is not None]
        self._dependants.append(weakref.ref(dependant))

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def _describe(self) -> str:
        return self._kind

    def _check(self) -> None:
        if self._closed:
            raise ClosedError(self._describe())

    def close(self) -> None:
        """Release the resource, and first everything that depends on it.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            for ref in reversed(self._dependants):
                dep = ref()
                if dep is not None:
                    dep.close()
            self._dependants.clear()
            self._closed = True
            finalizer, self._finalizer = self._finalizer, None
            if finalizer is not None:
                finalizer.detach()
            self._release()

    def _release(self) -> None:
        """Free the underlying resource (subclasses)."""

    def __enter__(self) -> Any:
        self._check()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # the finalizer does the work; nothing here
        pass


def dup_fd(fd: int) -> int:
    """A duplicate of ``fd`` for an owner to keep, or a BPFError saying why not."""
    try:
        return os.dup(fd)
    except OSError as exc:
        from .errors import BPFError
        raise BPFError(exc.errno or errno.EBADF, f"dup({fd}) failed: {exc.strerror}",
                       call="dup") from None


def close_fd(fd: int) -> None:
    """Close ``fd`` ignoring errors (for finalizers)."""
    try:
        os.close(fd)
    except OSError:
        pass


def fd_kind(fd: int) -> str | None:
    """What BPF object ``fd`` refers to: ``"prog"``, ``"map"``, ``"link"``, ``"btf"``,
    or None for anything else.  The kernel names each kind's anonymous inode, which
    tells them apart where ``bpf_obj_get_info_by_fd`` would silently answer with
    another kind's information."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return _FD_KINDS.get(target)


# New links are "bpf_link", links opened by id "bpf-link": the kernel spells both.
_FD_KINDS = {"anon_inode:bpf-prog": "prog", "anon_inode:bpf-map": "map",
             "anon_inode:bpf_link": "link", "anon_inode:bpf-link": "link",
             "anon_inode:btf": "btf", "anon_inode:bpf-token": "token"}
