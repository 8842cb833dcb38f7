"""Exceptions raised inside callbacks that C calls, kept until it is safe to raise them.

A Python exception cannot cross a ctypes callback into C: ctypes reports it as
"unraisable" and drops it.  Ctrl-C is the common case -- the SIGINT handler runs at
the next bytecode, and libbpf spends much of ``bpf_object__open``/``load`` in its
print callback -- so a dropped exception is a lost Ctrl-C.  The handler may even run
on the callback's first instruction, before any ``try`` in it, so catching inside
the callback is not enough: callbacks are :func:`register`-ed, and a
``sys.unraisablehook`` keeps whatever escapes them.  What is kept is raised by
:func:`raise_pending` right after the C call returns (libbpf calls do this
themselves, see ``_raw``) or, for a call that just made a new object, once that
object is owned.
"""
from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["keep", "raise_pending", "any_pending", "register"]

_local = threading.local()
# One entry per thread holding a kept exception: a cheap "is anything pending?" test.
any_pending: list[int] = []


def keep(exc: BaseException) -> None:
    """Keep ``exc`` for this thread's next :func:`raise_pending` (the first one wins)."""
    if getattr(_local, "exc", None) is None:
        _local.exc = exc
        any_pending.append(1)


def raise_pending(cleanup: Callable[[], Any] | None = None) -> None:
    """Raise the exception kept in this thread, if any, after ``cleanup()`` (e.g.
    closing what the C call just made, which would otherwise leak)."""
    exc = getattr(_local, "exc", None)
    if exc is None:
        return
    _local.exc = None
    try:
        any_pending.pop()
    except IndexError:
        pass
    if cleanup is not None:
        try:
            cleanup()
        except Exception:  # the kept exception is the one to report
            pass
    raise exc


# -- exceptions escaping a registered callback -------------------------------------------

_callbacks: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()
# Objects that cannot be weakly referenced (weakref.finalize), by id, while alive.
_finalizers: set[int] = set()
_previous_hook: Callable[[Any], Any] | None = None


def _install() -> None:
    global _previous_hook
    if _previous_hook is None:
        _previous_hook = sys.unraisablehook
        sys.unraisablehook = _unraisable


def register(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn`` (a function given to ctypes as a C callback) as one whose escaping
    exceptions are kept for :func:`raise_pending` instead of printed; returns it."""
    _install()
    _callbacks.add(fn)
    return fn


def register_finalizer(fin: Any) -> None:
    """The same for a ``weakref.finalize`` (run by the garbage collector) until
    :func:`forget_finalizer` -- called when it is detached or has run."""
    _install()
    _finalizers.add(id(fin))


def forget_finalizer(fin: Any) -> None:
    _finalizers.discard(id(fin))


def _unraisable(info: Any) -> None:
    obj = info.object
    try:
        ours = obj in _callbacks or id(obj) in _finalizers
    except TypeError:   # unhashable: not one of ours
        ours = False
    if ours and info.exc_value is not None:
        keep(info.exc_value)
        return
    hook = _previous_hook or sys.__unraisablehook__
    hook(info)
