"""BPF links: an attached program (libbpf's ``struct bpf_link``).

A :class:`Link` is returned by every ``Program.attach_*`` method and by
:meth:`Link.open` (a pinned link) or :meth:`Link.from_id`.  ``destroy()`` (alias
``close()``) detaches it unless it is pinned or was :meth:`disconnect`-ed; the
object that made it destroys it when it closes, as a libbpf skeleton does, so pin
a link to keep a program attached past the Python process.
"""
from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._fd import fd_by_id, obj_info
from ._lifetime import Owner, close_fd, fd_kind, guarded
from ._raw import check_int, lib, opts, raise_pending
from .enums import AttachType, LinkType
from .errors import BPFError
from .fs import bpffs_hint

if TYPE_CHECKING:
    from .program import Program

__all__ = ["Link", "LinkInfo"]


@dataclass(frozen=True)
class LinkInfo:
    """What the kernel reports of a link (``bpf_link_info``): its id, type, the id of
    the program it attaches, the attach type where the kernel reports one, and
    type-specific details in ``target``: ``tp_name`` and ``cookie`` (raw tracepoint),
    ``target_obj_id``/``target_btf_id`` (tracing), ``cgroup_id``, ``netns_ino``,
    ``ifindex`` (XDP, tcx, netkit), ``target_name`` and ``map_id`` (iterators),
    ``pf``/``hooknum``/``priority``/``flags`` (netfilter), ``path``/``count``/``flags``/
    ``pid`` (uprobe_multi), ``count``/``flags``/``missed`` (kprobe_multi), ``map_id``
    (sockmap, struct_ops)."""

    id: int
    type: LinkType
    prog_id: int
    attach_type: AttachType | None
    target: dict[str, Any]

    @classmethod
    def from_fd(cls, fd: int) -> LinkInfo:
        """Read the information of the link behind ``fd``."""
        what = f"link fd {fd}"
        info = obj_info(fd, "bpf_link_info", what)
        ltype = LinkType(info.type)
        if ltype in (LinkType.RAW_TRACEPOINT, LinkType.ITER, LinkType.UPROBE_MULTI):
            # Names come back only into a buffer given with a second call.
            name = ctypes.create_string_buffer(4096)

            def want_name(info: Any) -> None:
                if ltype == LinkType.RAW_TRACEPOINT:
                    info.raw_tracepoint.tp_name = ctypes.addressof(name)
                    info.raw_tracepoint.tp_name_len = len(name)
                elif ltype == LinkType.ITER:
                    info.iter.target_name = ctypes.addressof(name)
                    info.iter.target_name_len = len(name)
                else:
                    info.uprobe_multi.path = ctypes.addressof(name)
                    info.uprobe_multi.path_size = len(name)

            info = obj_info(fd, "bpf_link_info", what, want_name)
        target: dict[str, Any] = {}
        attach: AttachType | None = None
        if ltype == LinkType.RAW_TRACEPOINT:
            target = {"tp_name": name.value.decode(errors="replace"),
                      "cookie": info.raw_tracepoint.cookie}  # Linux >= 6.10, else 0
        elif ltype == LinkType.ITER:
            target = {"target_name": name.value.decode(errors="replace")}
            if target["target_name"] == "bpf_map_elem":
                target["map_id"] = info.iter.map.map_id
        elif ltype == LinkType.CGROUP:
            target = {"cgroup_id": info.cgroup.cgroup_id}
            attach = AttachType(info.cgroup.attach_type)
        elif ltype == LinkType.NETNS:
            target = {"netns_ino": info.netns.netns_ino}
            attach = AttachType(info.netns.attach_type)
        elif ltype == LinkType.XDP:
            target = {"ifindex": info.xdp.ifindex}
        elif ltype == LinkType.TRACING:
            target = {"target_obj_id": info.tracing.target_obj_id,
                      "target_btf_id": info.tracing.target_btf_id}
            attach = AttachType(info.tracing.attach_type)
        elif ltype in (LinkType.TCX, LinkType.NETKIT):
            sub = info.tcx if ltype == LinkType.TCX else info.netkit
            target = {"ifindex": sub.ifindex}
            attach = AttachType(sub.attach_type)
        elif ltype == LinkType.NETFILTER:
            nf = info.netfilter
            target = {"pf": nf.pf, "hooknum": nf.hooknum, "priority": nf.priority,
                      "flags": nf.flags}
        elif ltype == LinkType.UPROBE_MULTI:
            um = info.uprobe_multi
            target = {"path": name.value.decode(errors="replace"), "count": um.count,
                      "flags": um.flags, "pid": um.pid}
        elif ltype == LinkType.KPROBE_MULTI:
            km = info.kprobe_multi
            target = {"count": km.count, "flags": km.flags, "missed": km.missed}
        elif ltype == LinkType.SOCKMAP:
            target = {"map_id": info.sockmap.map_id}
            attach = AttachType(info.sockmap.attach_type)
        elif ltype == LinkType.STRUCT_OPS:
            target = {"map_id": info.struct_ops.map_id}
        return cls(id=info.id, type=ltype, prog_id=info.prog_id, attach_type=attach,
                   target=target)


@guarded()
class Link(Owner):
    """An attachment of a program.  ``with`` destroys it on exit."""

    _kind = "link"

    def __init__(self, ptr: int | None, *, program: Program | None = None,
                 fd: int | None = None, description: str = "") -> None:
        super().__init__()
        self._ptr = ptr
        self._own_fd = fd           # only for links opened by id (no bpf_link struct)
        self._program = program
        self._description = description or (program.name if program else "link")
        self._pinned_path: str | None = None
        if ptr is not None:
            self._arm(lib.bpf_link__destroy, ptr)
        elif fd is not None:
            self._arm(close_fd, fd)

    def _describe(self) -> str:
        return f"link ({self._description})"

    def _release(self) -> None:
        if self._ptr is not None:
            lib.bpf_link__destroy(self._ptr)
            self._ptr = None
        elif self._own_fd is not None:
            close_fd(self._own_fd)
            self._own_fd = None
        if self._program is not None:
            self._program._forget_link(self)

    def destroy(self) -> None:
        """Detach (unless pinned or disconnected) and free the link.  Idempotent."""
        self.close()

    @classmethod
    def open(cls, pin_path: str | os.PathLike[str]) -> Link:
        """Open the link pinned at ``pin_path`` (``bpf_link__open``)."""
        p = os.fspath(pin_path)
        ptr = lib.bpf_link__open(os.fsencode(p))
        if not ptr:
            err = ctypes.get_errno() or errno.ENOENT
            raise_pending()
            check_int(-err, "bpf_link__open", p)
        link = cls(ptr, description=f"pinned at {p}")
        link._pinned_path = p
        raise_pending(link.close)  # a Ctrl-C during the open: no link left behind
        kind = fd_kind(link.fd)
        if kind != "link":
            link.close()           # a link from bpf_link__open only closes its fd
            what = f"a pinned BPF {kind}" if kind else "not a BPF object"
            hint = {"map": "MapHandle.from_pin()", "prog": "ProgramHandle.from_pin()"}
            raise BPFError(errno.EINVAL, f"{p} is {what}, not a link" +
                           (f": open it with {hint[kind]}" if kind in hint else ""),
                           call="bpf_link__open", target=p)
        return link

    @classmethod
    def from_id(cls, link_id: int) -> Link:
        """Open the kernel link with id ``link_id`` (fd-level operations only)."""
        return cls(None, fd=fd_by_id("link", link_id), description=f"id {link_id}")

    @property
    def fd(self) -> int:
        """The link's file descriptor (owned by the link)."""
        self._check()
        if self._ptr is not None:
            return int(lib.bpf_link__fd(self._ptr))
        assert self._own_fd is not None
        return self._own_fd

    @property
    def program(self) -> Program | None:
        """The program this link attached, when it was attached from Python."""
        return self._program

    def info(self) -> LinkInfo:
        """Kernel information about this link (id, type, program id, target)."""
        return LinkInfo.from_fd(self.fd)

    @property
    def id(self) -> int:
        """The kernel's id of this link."""
        return self.info().id

    @property
    def pin_path(self) -> str | None:
        """Where the link is pinned, if it is."""
        self._check()
        if self._ptr is not None:
            raw = lib.bpf_link__pin_path(self._ptr)
            return raw.decode() if raw else None
        return self._pinned_path

    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the link at ``path`` on a BPF filesystem; it then outlives this process."""
        self._check()
        p = os.fspath(path)
        if self._ptr is not None:
            ret = lib.bpf_link__pin(self._ptr, os.fsencode(p))
        else:
            ret = lib.bpf_obj_pin(self.fd, os.fsencode(p))
        check_int(ret, "bpf_link__pin", f"{self._describe()} at {p}", hint=bpffs_hint(p))
        self._pinned_path = p

    def unpin(self) -> None:
        """Remove the link's pin; destroying the link then detaches it."""
        self._check()
        if self.pin_path is None:
            raise BPFError(errno.EINVAL, f"{self._describe()} is not pinned",
                           call="bpf_link__unpin", target=self._description)
        if self._ptr is not None:
            check_int(lib.bpf_link__unpin(self._ptr), "bpf_link__unpin", self._describe())
        else:
            assert self._pinned_path is not None
            try:
                os.unlink(self._pinned_path)
            except OSError as exc:
                raise BPFError(exc.errno or errno.EINVAL, f"unpin {self._pinned_path}: "
                               f"{exc.strerror}", call="unlink",
                               target=self._pinned_path) from None
        self._pinned_path = None

    def update_program(self, program: Program) -> None:
        """Atomically replace the attached program by ``program`` (Linux >= 5.7)."""
        self._check()
        new_fd = program.fd  # the new program must be loaded
        if self._ptr is not None:
            ret = lib.bpf_link__update_program(self._ptr, program._ptr_checked())
        else:
            o = opts("bpf_link_update_opts")
            ret = lib.bpf_link_update(self.fd, new_fd, ctypes.byref(o))
        check_int(ret, "bpf_link__update_program", self._describe())
        self._program = program

    def update_map(self, map: Any) -> None:
        """Replace the struct_ops map of a struct_ops link (made by
        :meth:`Map.attach_struct_ops` of a ``SEC(".struct_ops.link")`` map) by ``map``,
        atomically: the new implementation takes over.  Requires libbpf >= 1.2 and
        Linux >= 6.4."""
        self._check()
        call = lib.bpf_link__update_map  # a libbpf without it says so first
        if self._ptr is None:
            raise BPFError(errno.EINVAL, f"{self._describe()}: update_map() needs a link "
                           "made from an object's map", call="bpf_link__update_map",
                           target=self._description)
        check_int(call(self._ptr, map._ptr_checked()), "bpf_link__update_map",
                  f"{self._describe()} to map {map.name!r}")

    def detach(self) -> None:
        """Detach in the kernel now; the link object stays until destroyed (Linux >= 5.9)."""
        self._check()
        if self._ptr is not None:
            ret = lib.bpf_link__detach(self._ptr)
        else:
            ret = lib.bpf_link_detach(self.fd)
        check_int(ret, "bpf_link__detach", self._describe())

    def disconnect(self) -> None:
        """Let destroy() free the link without detaching it (``bpf_link__disconnect``).

        For links made through a file descriptor (almost all), libbpf then leaves
        that fd open: the program stays attached until the process exits.  Prefer
        :meth:`pin` to keep a program attached."""
        self._check()
        if self._ptr is not None:
            lib.bpf_link__disconnect(self._ptr)

    def read(self, *, chunk: int = 65536) -> bytes:
        """Run an iterator link to the end and return its output (``bpf_iter_create``)."""
        fd = lib.bpf_iter_create(self.fd)
        if fd < 0:
            if -fd == errno.EINVAL:
                raise BPFError(-fd, f"{self._describe()} is not an iterator link: only "
                               "links from attach_iter() can be read",
                               call="bpf_iter_create", target=self._description)
            check_int(fd, "bpf_iter_create", self._describe())
        parts = []
        try:
            while True:
                try:
                    part = os.read(fd, chunk)
                except OSError as exc:
                    raise BPFError(exc.errno or errno.EIO,
                                   f"reading iterator of {self._describe()}: {exc.strerror}",
                                   call="read") from None
                if not part:
                    break
                parts.append(part)
        finally:
            os.close(fd)
        return b"".join(parts)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "attached"
        return f"<Link {self._description} {state}>"
