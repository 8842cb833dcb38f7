"""Traffic control: attaching ``SEC("tc")`` (sched_cls) programs to an interface's
ingress or egress through libbpf's ``bpf_tc_*`` netlink API::

    with TcHook("eth0", "ingress") as hook:     # creates the clsact qdisc if needed
        hook.attach(obj.programs["classifier"])
        ...                                      # on exit: detached, qdisc removed
                                                 # (if this hook created it)

Unlike links, TC filters are not tied to a file descriptor: once attached they stay
until detached, even after the process exits.  A :class:`TcHook` therefore detaches
on ``close()``/``with`` exit what it attached and removes the qdisc it created;
closing the program's object does not detach them.  Interface names are resolved,
and netlink spoken, in the calling thread's network namespace.  Requires Linux >=
4.1 (clsact), libbpf >= 0.4, CAP_NET_ADMIN.
"""
from __future__ import annotations

import ctypes
import errno
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._lifetime import Owner, guarded
from ._raw import ENUMS, capture_log, check_int, lib, opts
from .enums import TcAttachPoint
from .errors import BPFError

if TYPE_CHECKING:
    from .program import Program

__all__ = ["TcHook", "TcFilter"]

_F_REPLACE = ENUMS["bpf_tc_flags"]["BPF_TC_F_REPLACE"]


@dataclass(frozen=True)
class TcFilter:
    """A BPF filter on a TC hook: where it is (``handle``, ``priority``) and which
    program it runs (``prog_id``)."""

    ifindex: int
    attach_point: TcAttachPoint
    handle: int
    priority: int
    prog_id: int


def _attach_point(value: str | int | TcAttachPoint) -> TcAttachPoint:
    if isinstance(value, str):
        try:
            return TcAttachPoint[value.upper()]
        except KeyError:
            raise ValueError(f"attach_point must be 'ingress' or 'egress', not "
                             f"{value!r}") from None
    point = TcAttachPoint(value)
    if point == TcAttachPoint.CUSTOM:
        raise ValueError("custom TC parents are not supported: use 'ingress' or 'egress'")
    return point


def _u32(name: str, value: int | None) -> int:
    if value is None:
        return 0
    if not 0 <= value <= 0xFFFF_FFFF:
        raise ValueError(f"{name} must fit in 32 bits, got {value}")
    return value


@guarded()
class TcHook(Owner):
    """The ingress or egress TC hook of one network interface (name or index)."""

    _kind = "tc hook"

    def __init__(self, interface: str | int,
                 attach_point: str | int | TcAttachPoint = "ingress") -> None:
        super().__init__()
        self.attach_point = _attach_point(attach_point)
        if isinstance(interface, int):
            self.ifindex = interface
            self.interface = str(interface)
        else:
            try:
                self.ifindex = socket.if_nametoindex(interface)
            except OSError:
                raise BPFError(errno.ENODEV, f"no network interface {interface!r} (in "
                               "this network namespace)", call="if_nametoindex",
                               target=interface) from None
            self.interface = interface
        self._created = False
        self._filters: list[TcFilter] = []

    def _describe(self) -> str:
        return f"tc hook {self.interface} {self.attach_point.name.lower()}"

    def _hook(self, point: int | None = None) -> Any:
        return opts("bpf_tc_hook", ifindex=self.ifindex,
                    attach_point=int(self.attach_point if point is None else point))

    def create(self) -> TcHook:
        """Create the interface's ``clsact`` qdisc unless it exists; returns self."""
        self._check()
        with capture_log(quiet=True) as lines:  # EEXIST is the usual, harmless case
            ret = lib.bpf_tc_hook_create(ctypes.byref(self._hook()))
        if ret == -errno.EEXIST:
            return self
        if ret < 0:
            why = "".join(lines).strip().removeprefix("libbpf: ")
            check_int(ret, "bpf_tc_hook_create", self._describe() + (f" ({why})" if why
                                                                     else ""))
        self._created = True
        return self

    def attach(self, program: Program, *, handle: int | None = None,
               priority: int | None = None, replace: bool = False) -> TcFilter:
        """Attach ``program`` (a loaded ``SEC("tc")`` program) as a filter; the kernel
        picks ``handle`` and ``priority`` when they are not given.  ``replace``
        swaps the program of an existing filter with that handle and priority."""
        self._check()
        fd = program.fd
        o = opts("bpf_tc_opts", prog_fd=fd, handle=_u32("handle", handle),
                 priority=_u32("priority", priority), flags=_F_REPLACE if replace else 0)
        if o.priority > 0xFFFF:
            raise ValueError(f"priority must fit in 16 bits, got {priority}")
        ret, why = self._call("bpf_tc_attach", o)
        if ret < 0:
            if -ret == errno.EEXIST:
                raise BPFError(-ret, f"{self._describe()} already has a filter with handle "
                               f"{handle} and priority {priority} (pass replace=True)",
                               call="bpf_tc_attach", target=self.interface)
            self._raise(ret, why, "bpf_tc_attach", f"attaching program {program.name!r}")
        f = TcFilter(self.ifindex, self.attach_point, o.handle, o.priority, o.prog_id)
        self._filters = [x for x in self._filters
                         if (x.handle, x.priority) != (f.handle, f.priority)] + [f]
        return f

    def query(self, handle: int | None = None, priority: int | None = None) -> TcFilter:
        """The filter at ``handle``/``priority`` (default: the last one attached
        through this hook).  Raises BPFError (ENOENT) when there is none."""
        self._check()
        handle, priority = self._locate(handle, priority)
        o = opts("bpf_tc_opts", handle=handle, priority=priority)
        ret, why = self._call("bpf_tc_query", o)
        if ret < 0:
            self._raise(ret, why, "bpf_tc_query", f"no filter with handle {handle} and "
                        f"priority {priority}")
        return TcFilter(self.ifindex, self.attach_point, o.handle, o.priority, o.prog_id)

    def detach(self, handle: int | TcFilter | None = None,
               priority: int | None = None) -> None:
        """Remove a filter (a :class:`TcFilter`, a handle and priority, or by
        default the last one attached through this hook)."""
        self._check()
        if isinstance(handle, TcFilter):
            handle, priority = self._locate(handle.handle, handle.priority)
        else:
            handle, priority = self._locate(handle, priority)
        o = opts("bpf_tc_opts", handle=handle, priority=priority)
        ret, why = self._call("bpf_tc_detach", o)
        if ret < 0:
            self._raise(ret, why, "bpf_tc_detach", f"no filter with handle {handle} and "
                        f"priority {priority}")
        self._filters = [x for x in self._filters
                         if (x.handle, x.priority) != (handle, priority)]

    def _locate(self, handle: int | None, priority: int | None) -> tuple[int, int]:
        if handle is None and priority is None:
            if not self._filters:
                raise ValueError(f"{self._describe()}: give handle and priority (no "
                                 "filter was attached through this hook)")
            last = self._filters[-1]
            return last.handle, last.priority
        if handle is None or priority is None:
            raise ValueError("give both handle and priority")
        return _u32("handle", handle), _u32("priority", priority)

    @property
    def filters(self) -> list[TcFilter]:
        """Filters attached through this hook and not detached since."""
        return list(self._filters)

    def destroy(self) -> None:
        """Remove the interface's ``clsact`` qdisc, with every filter on both its
        ingress and egress (whoever attached them).  The hook stays usable:
        ``create()`` makes a new qdisc."""
        self._check()
        both = int(TcAttachPoint.INGRESS) | int(TcAttachPoint.EGRESS)
        with capture_log(quiet=True) as lines:
            ret = lib.bpf_tc_hook_destroy(ctypes.byref(self._hook(both)))
        why = "".join(lines)
        # No clsact qdisc: ENOENT, or EINVAL ("Invalid handle") once one was removed.
        if ret == -errno.ENOENT or (ret == -errno.EINVAL and (
                "qdisc" in why.lower() or "invalid handle" in why.lower())):
            raise BPFError(errno.ENOENT, f"{self._describe()}: no clsact qdisc to destroy",
                           call="bpf_tc_hook_destroy", target=self.interface)
        check_int(ret, "bpf_tc_hook_destroy", self._describe())
        self._filters.clear()
        self._created = False

    def _call(self, call: str, o: Any) -> tuple[int, str]:
        """Run a bpf_tc_* call; return its result and the kernel's netlink message."""
        with capture_log(quiet=True) as lines:
            ret = getattr(lib, call)(ctypes.byref(self._hook()), ctypes.byref(o))
        why = ""
        for line in lines:
            if "Kernel error message:" in line:
                why = line.split("Kernel error message:", 1)[1].strip()
        return int(ret), why

    def _raise(self, ret: int, why: str, call: str, what: str) -> None:
        err = -ret
        if "Parent Qdisc doesn't exist" in why:
            raise BPFError(err, f"{self._describe()}: the interface has no clsact qdisc "
                           "(call create() first)", call=call, target=self.interface)
        if err == errno.ENOENT or "Cannot find specified filter chain" in why:
            raise BPFError(errno.ENOENT, f"{self._describe()}: {what}", call=call,
                           target=self.interface)
        check_int(ret, call, f"{self._describe()} ({what})" + (f": {why}" if why else ""))

    def _release(self) -> None:
        # Undo what this hook did; ignore what someone else undid first.
        with capture_log(quiet=True):
            for f in reversed(self._filters):
                o = opts("bpf_tc_opts", handle=f.handle, priority=f.priority)
                lib.bpf_tc_detach(ctypes.byref(self._hook()), ctypes.byref(o))
            self._filters.clear()
            if self._created:
                both = int(TcAttachPoint.INGRESS) | int(TcAttachPoint.EGRESS)
                lib.bpf_tc_hook_destroy(ctypes.byref(self._hook(both)))
                self._created = False

    def __enter__(self) -> TcHook:
        self._check()
        return self.create()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._filters)} filters"
        return f"<TcHook {self.interface} {self.attach_point.name.lower()} {state}>"

    def __getstate__(self) -> Any:
        raise TypeError("a TcHook cannot be pickled")

