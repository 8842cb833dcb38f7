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
import functools
import inspect
import operator
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ._deferred import any_pending, forget_finalizer, raise_pending, register_finalizer
from .errors import ClosedError

T = TypeVar("T")

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
    """Base class of everything that owns a libbpf object or a file descriptor.

    **Calls in flight.**  Every operation that touches the resource runs inside a
    *use* (``with self._use():``, or automatically for the public methods of a class
    decorated with :func:`guarded`).  ``close()`` from any thread marks the owner
    closed at once (later calls raise :class:`ClosedError`), wakes calls blocked in
    it (:meth:`_shutdown`), and leaves the actual release to the last use that ends:
    nothing is ever freed under a call running in another thread, and a call may
    close its own owner (a callback closing its buffer) without deadlock.  A
    dependant's uses count as uses of its owners too (a borrowed BTF, a link, a
    buffer over an object's map), so an object is never freed under them either.

    Owners cannot be copied or pickled: a copy would share the native resource and
    free it twice.
    """

    _kind = "resource"

    def __init__(self) -> None:
        self._closed = False
        self._dependants: list[weakref.ref[Owner]] = []
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.RLock()       # serialises close()
        # One entry per use in progress, from any thread (list.append/pop are atomic).
        self._inflight: list[None] = []
        # This owner, then every owner whose resources it uses (see _adopt).
        self._chain: tuple[Owner, ...] = (self,)
        self._released = False
        self._release_lock = threading.Lock()

    def _arm(self, release: Callable[..., Any], *args: Any) -> None:
        """Register ``release(*args)`` as the safety net for this owner."""
        self._finalizer = weakref.finalize(self, _net, self._kind, release, *args)
        # It runs from the garbage collector: a Ctrl-C landing in it is kept for the
        # next libbpfpy call instead of being printed and dropped.
        register_finalizer(self._finalizer)

    def _disarm(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            forget_finalizer(self._finalizer)
            self._finalizer = None

    def _adopt(self, dependant: Owner) -> None:
        """Close ``dependant`` whenever this owner closes; its uses count as ours."""
        self._check()
        self._dependants = [r for r in self._dependants if r() is not None]
        self._dependants.append(weakref.ref(dependant))
        chain = dependant._chain
        dependant._chain = chain + tuple(o for o in self._chain if o not in chain)

    def _use(self) -> _Use:
        """``with owner._use():`` around anything that touches the resource."""
        return _Use(self)

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
        """Release the resource, and first everything that depends on it.  Idempotent.

        Safe from any thread: a call running on this owner in another thread keeps
        the resource until it returns (a blocked wait is woken first)."""
        with self._lock:
            if self._closed:
                return
            for ref in reversed(self._dependants):
                dep = ref()
                if dep is not None:
                    dep.close()
            self._dependants.clear()
            # Closing is a use while it shuts down (wakes waiters, discards what is
            # pending): a call ending meanwhile in another thread cannot free the
            # resource under it.  The last use to end releases it.
            use = _Use(self)
            for o in use.chain:
                o._inflight.append(None)
            try:
                self._closed = True
                self._shutdown()
            finally:
                use.__exit__()

    def _shutdown(self) -> None:
        """Wake calls blocked on this owner, once it is marked closed (subclasses)."""

    def _free(self) -> None:
        with self._release_lock:
            if self._released:
                return
            self._released = True
            finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
            forget_finalizer(finalizer)
        self._release()

    def _release(self) -> None:
        """Free the underlying resource (subclasses)."""

    def __enter__(self) -> Any:
        self._check()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- no copies ------------------------------------------------------------------------
    def _not_copyable(self, what: str) -> TypeError:
        return TypeError(f"{type(self).__name__} owns a native resource ({self._describe()}) "
                         f"and cannot be {what}; share the object itself instead")

    def __copy__(self) -> Any:
        raise self._not_copyable("copied")

    def __deepcopy__(self, memo: Any) -> Any:
        raise self._not_copyable("copied")

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise self._not_copyable("pickled")


class _Use:
    """A use of an owner (and of the owners its resources come from)."""

    __slots__ = ("chain",)

    def __init__(self, owner: Owner) -> None:
        self.chain = owner._chain

    def __enter__(self) -> None:
        chain = self.chain
        for o in chain:
            o._inflight.append(None)
        if chain[0]._closed:
            self.__exit__()
            raise ClosedError(chain[0]._describe())

    def __exit__(self, *exc: object) -> None:
        for o in self.chain:
            o._inflight.pop()
            if o._closed and not o._inflight:
                o._free()


def guarded(owner: str | None = None) -> Callable[[type[T]], type[T]]:
    """Class decorator: run every public method and property of the class (and of its
    libbpfpy base classes) inside a use of its owner -- ``self`` (an :class:`Owner`),
    or the attribute ``owner`` (e.g. ``"_obj"`` for an object's programs and maps).

    Generators are left alone (a suspended generator must not pin the resource: they
    take a use per step), as are ``close``/``destroy``, context-manager methods and
    the names a class lists in ``_unguarded_`` (cheap accessors that read only Python
    state, or take a use themselves on their slow path: nested in every call, a
    wrapper there would cost more than the call).  Closed checks stay in the methods
    themselves, which then run inside the use."""
    def decorate(cls: type[T]) -> type[T]:
        skip: set[str] = set()
        for klass in cls.__mro__:
            skip |= set(vars(klass).get("_unguarded_", ()))
        for name, value in _public_members(cls):
            if name in skip:
                continue
            if isinstance(value, property):
                fget = _wrap(value.fget, owner) if value.fget else None
                fset = _wrap(value.fset, owner) if value.fset else None
                setattr(cls, name, property(fget, fset, value.fdel, value.__doc__))
            elif inspect.isfunction(value) and not inspect.isgeneratorfunction(value) \
                    and not inspect.isasyncgenfunction(value):
                setattr(cls, name, _wrap(value, owner))
        return cls
    return decorate


_GUARDED_DUNDERS = frozenset({"__getitem__", "__setitem__", "__delitem__", "__len__",
                              "__contains__", "__iter__"})
_UNGUARDED = frozenset({"close", "destroy", "closed"})


def _public_members(cls: type) -> Iterator[tuple[str, Any]]:
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("libbpfpy") or klass is Owner:
            continue
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if name in _UNGUARDED or (name.startswith("_") and name not in _GUARDED_DUNDERS):
                continue
            if getattr(value, "__wrapped_use__", False):
                continue
            yield name, value


def _wrap(fn: Callable[..., Any], attr: str | None) -> Callable[..., Any]:
    # After the call, an exception a libbpf callback kept (see _deferred) is raised:
    # no public call returns with a Ctrl-C still pending.
    owner_of: Callable[[Any], Owner] = (lambda self: self) if attr is None \
        else operator.attrgetter(attr)

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        chain = owner_of(self)._chain
        for o in chain:
            o._inflight.append(None)
        try:
            ret = fn(self, *args, **kwargs)
        finally:
            for o in chain:
                o._inflight.pop()
                if o._closed and not o._inflight:
                    o._free()
        if any_pending:
            raise_pending()
        return ret

    functools.update_wrapper(call, fn)
    call.__wrapped_use__ = True  # type: ignore[attr-defined]
    return call


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
