"""BPF programs of an object (libbpf's ``struct bpf_program``) and how to attach them.

A :class:`Program` is a borrowed view of its :class:`~libbpfpy.Object`: it keeps the
object alive and raises :class:`ClosedError` once the object is closed.  Every
``attach_*`` method returns a :class:`~libbpfpy.Link`; when attaching fails the
error says why in this machine's terms (tracefs not mounted, no such tracepoint,
kernel without kprobes, missing privileges) rather than a bare errno.
"""
from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _args, fs
from ._lifetime import dup_fd, guarded
from ._raw import RECORDS, capture_log, check_int, lib, opts, raise_pending, unchecked
from .enums import AttachType, ProgType, parse_enum
from .errors import BPFError, NotSupportedError, error_for, strerror
from .link import Link

if TYPE_CHECKING:
    from .inventory import ProgramInfo
    from .map import MapAPI
    from .object import Object

__all__ = ["Program", "TestRunResult", "FuncInfo", "LineInfo", "STREAMS"]

#: The streams of a BPF program (``enum bpf_stream_id``): what it prints with
#: ``bpf_stream_printk(BPF_STDOUT, ...)`` / ``BPF_STDERR``.
STREAMS = {"stdout": 1, "stderr": 2}

# Sections libbpf auto-attaches through tracefs (tracepoints) and through kprobes.
_TP_PREFIXES = ("tp/", "tracepoint/")
_KPROBE_PREFIXES = ("kprobe", "kretprobe", "ksyscall", "kretsyscall")
_TRACING_TYPES = (ProgType.TRACING, ProgType.LSM, ProgType.EXT)


class FuncInfo(NamedTuple):
    """A function of a program (``struct bpf_func_info``): the instruction it starts
    at, its BTF ``FUNC`` type id in the object's BTF and its name."""

    insn_off: int
    type_id: int
    name: str


class LineInfo(NamedTuple):
    """A source line of a program (``struct bpf_line_info``): the first instruction
    compiled from it, the file, the line's text, its number and column."""

    insn_off: int
    file: str
    line: str
    line_num: int
    column: int


class TestRunResult(NamedTuple):
    """Result of :meth:`Program.test_run` (``BPF_PROG_TEST_RUN``): the program's
    return value (signed), the packet and context after the run, and the average
    run time."""

    retval: int
    data: bytes
    ctx: bytes
    duration_ns: int

    @property
    def duration(self) -> float:
        """Average run time in seconds."""
        return self.duration_ns / 1e9


setattr(TestRunResult, "__test__", False)  # noqa: B010  (not a pytest test class)


@guarded("_obj")
class Program:
    """A program of an object.  Attributes are settable before load where noted."""

    def __init__(self, obj: Object, ptr: int) -> None:
        self._obj = obj
        self._ptr = ptr
        self.name: str = lib.bpf_program__name(ptr).decode()
        self._log_buf: Any = None
        self._failed_log: str | None = None
        self._links: list[Link] = []
        self._ifindex = 0

    # -- plumbing -------------------------------------------------------------------
    def _check(self) -> None:
        self._obj._check_open(f"program {self.name!r}")

    def _ptr_checked(self) -> int:
        self._check()
        return self._ptr

    def _forget_link(self, link: Link) -> None:
        try:
            self._links.remove(link)
        except ValueError:
            pass

    def _set(self, call: str, *args: Any) -> None:
        self._check()
        self._obj._require_unloaded(call, f"program {self.name!r}", self.name)
        ret = getattr(lib, call)(self._ptr, *args)
        if ret is not None and ret < 0:
            check_int(ret, call, f"program {self.name!r}")

    @property
    def object(self) -> Object:
        """The object this program belongs to."""
        return self._obj

    # -- properties -----------------------------------------------------------------
    @property
    def section(self) -> str:
        """ELF section name (``SEC("...")``), which tells libbpf how to attach it."""
        self._check()
        return lib.bpf_program__section_name(self._ptr).decode()  # type: ignore[no-any-return]

    @property
    def type(self) -> ProgType:
        """Program type; settable before load."""
        self._check()
        return ProgType(lib.bpf_program__type(self._ptr))

    @type.setter
    def type(self, value: ProgType | int | str) -> None:
        self.set_type(value)

    def set_type(self, value: ProgType | int | str) -> None:
        """Change the program type (before load)."""
        self._set("bpf_program__set_type", int(parse_enum(ProgType, value)))

    @property
    def expected_attach_type(self) -> AttachType | None:
        """Expected attach type, or None when the program type has none; settable
        before load.

        The kernel's "none" is 0, which is also ``CGROUP_INET_INGRESS``: it is only
        reported as such for ``cgroup_skb`` programs, the one type where 0 means it.
        """
        self._check()
        raw = int(lib.bpf_program__expected_attach_type(self._ptr))
        if raw == 0 and self.type != ProgType.CGROUP_SKB:
            return None
        return AttachType(raw)

    @expected_attach_type.setter
    def expected_attach_type(self, value: AttachType | int | str) -> None:
        self._set("bpf_program__set_expected_attach_type",
                  int(parse_enum(AttachType, value)))

    def set_attach_target(self, func_name: str | None = None, target_fd: int = 0) -> None:
        """Set the BTF attach target (fentry/fexit/freplace/lsm), before load.

        ``target_fd`` 0 means a kernel function; otherwise a BPF program's fd."""
        if not target_fd:
            self._check()
            self._obj._require_unloaded("bpf_program__set_attach_target",
                                        f"program {self.name!r}", self.name)
            self._obj._loads_kernel_btf()
        self._set("bpf_program__set_attach_target", target_fd,
                  func_name.encode() if func_name else None)

    @property
    def fd(self) -> int:
        """The program's file descriptor (after load; owned by the object)."""
        self._check()
        fd = lib.bpf_program__fd(self._ptr)
        if fd < 0:
            raise BPFError(errno.EBADF, f"program {self.name!r} is not loaded "
                           "(load the object first; autoload may be off)", target=self.name)
        return int(fd)

    @property
    def loaded(self) -> bool:
        """Whether the program is loaded in the kernel."""
        self._check()
        return bool(lib.bpf_program__fd(self._ptr) >= 0)

    @property
    def insn_count(self) -> int:
        """Number of BPF instructions (after relocation, once loaded)."""
        self._check()
        return int(lib.bpf_program__insn_cnt(self._ptr))

    @property
    def autoload(self) -> bool:
        """Whether load() loads this program; settable before load."""
        self._check()
        return bool(lib.bpf_program__autoload(self._ptr))

    @autoload.setter
    def autoload(self, value: bool) -> None:
        self._set("bpf_program__set_autoload", bool(value))

    @property
    def autoattach(self) -> bool:
        """Whether Object.attach() attaches this program; settable any time."""
        self._check()
        return bool(lib.bpf_program__autoattach(self._ptr))

    @autoattach.setter
    def autoattach(self, value: bool) -> None:
        self._check()
        lib.bpf_program__set_autoattach(self._ptr, bool(value))

    @property
    def flags(self) -> int:
        """Program load flags (``BPF_F_*``); settable before load."""
        self._check()
        return int(lib.bpf_program__flags(self._ptr))

    @flags.setter
    def flags(self, value: int) -> None:
        self._set("bpf_program__set_flags", _args.uint(value, "flags"))

    @property
    def ifindex(self) -> int:
        """Offload device (0 for none); settable before load.  libbpf has a setter
        but no getter, so this is the value set through this program."""
        self._check()
        return self._ifindex

    @ifindex.setter
    def ifindex(self, value: int) -> None:
        value = _args.uint(value, "ifindex")
        self._set("bpf_program__set_ifindex", value)
        self._ifindex = value

    @property
    def log_level(self) -> int:
        """Verifier log level for load (0 = only on failure, 1 = always, 2 = verbose,
        4 = stats); when set non-zero, :attr:`log` holds the log after load."""
        self._check()
        return int(lib.bpf_program__log_level(self._ptr))

    @log_level.setter
    def log_level(self, value: int) -> None:
        value = _args.uint(value, "log_level")
        self._set("bpf_program__set_log_level", value)
        if value and self._log_buf is None:
            self.set_log_buffer(16 << 20)

    def set_log_buffer(self, size: int) -> None:
        """Give the verifier ``size`` bytes for its log (before load)."""
        size = _args.uint(size, "size", minimum=1)
        buf = ctypes.create_string_buffer(size)
        self._set("bpf_program__set_log_buf", buf, size)
        self._log_buf = buf

    @property
    def log(self) -> str:
        """The verifier log: of the last load when log_level was set, or of the
        failed load otherwise ("" if there is none)."""
        self._check()
        if self._log_buf is not None and self._log_buf.value:
            return self._log_buf.value.decode("utf-8", "replace")  # type: ignore[no-any-return]
        return self._failed_log or ""

    @property
    def instructions(self) -> bytes:
        """The raw instructions (8 bytes each) as libbpf holds them."""
        self._check()
        ptr = lib.bpf_program__insns(self._ptr)
        return ctypes.string_at(ptr, self.insn_count * 8) if ptr else b""

    # -- attaching ------------------------------------------------------------------
    def _attach(self, call: str, *args: Any, what: str,
                diagnose: Callable[[int], BPFError | None] | None = None) -> Link:
        fn = getattr(lib, call)  # first: a libbpf without it says which one has it
        self._require_loaded(call)
        ptr = fn(self._ptr, *args)
        if not ptr:
            err = ctypes.get_errno() or errno.EINVAL
            raise_pending()
            better = (diagnose(err) if diagnose else None) or \
                self._already_attached(err, what, call)
            if better is not None:
                raise better
            raise error_for(err, f"{call}() of program {self.name!r} to {what} failed: "
                            f"{strerror(err)} [errno {err}]", call=call, target=self.name)
        return self._own_link(ptr, what)

    def _require_loaded(self, call: str) -> None:
        if not self.loaded:
            raise BPFError(errno.EINVAL, f"cannot attach program {self.name!r}: it is not "
                           "loaded (call Object.load() first)", call=call, target=self.name)

    def _already_attached(self, err: int, what: str, call: str) -> BPFError | None:
        """The kernel's EEXIST when this program, still attached, is attached again
        where it already is (a tracepoint, kprobe ... runs a program once)."""
        live = self.links
        if err != errno.EEXIST or not live:
            return None
        held = ", ".join(link._description for link in live)
        return BPFError(err, f"program {self.name!r} is already attached to {what} (its "
                        f"links: {held}); the kernel runs a program once per hook: close "
                        "the earlier link first, or open the object again for a second "
                        "copy [errno 17]", call=call, target=self.name)

    def _own_link(self, ptr: int, what: str) -> Link:
        link = Link(ptr, program=self, description=f"{self.name} -> {what}")
        self._links.append(link)
        self._obj._adopt(link)
        raise_pending(link.close)  # a Ctrl-C during the attach: no link left behind
        return link

    def _auto_attach(self) -> Link | None:
        """Attach as the section says; None when the section names no target.

        This is libbpf's own rule for skeletons (``bpf_object__attach_skeleton``),
        applied to one program through a one-program skeleton: sections without an
        auto-attach handler, and those such as ``SEC("uprobe")`` whose handler
        finds no target in the name, are skipped rather than failed.
        """
        self._require_loaded("bpf_program__attach")
        sec = self.section
        diagnose: Callable[[int], BPFError | None] | None = None
        if sec.startswith(_TP_PREFIXES):
            parts = sec.split("/")
            if len(parts) == 3:
                self._check_tracepoint(parts[1], parts[2])
        elif sec.startswith(_KPROBE_MULTI_PREFIXES):
            target = sec.partition("/")[2]
            if target and _libbpf_matches_kallsyms() and _kprobe_multi_works():
                # libbpf's own matching would use kallsyms: see attach_kprobe_multi
                return self.attach_kprobe_multi(target, retprobe=sec.startswith("kretprobe"))
            diagnose = self._kprobe_multi_diagnosis(sec)
        elif sec.startswith(_KPROBE_PREFIXES):
            diagnose = self._kprobe_diagnosis(sec)
        elif self.type in _TRACING_TYPES:
            diagnose = self._feature_diagnosis(f"SEC({sec!r})")
        obj_ptr = ctypes.c_void_p(self._obj._ptr)
        prog_ptr = ctypes.c_void_p(self._ptr)
        link_ptr = ctypes.c_void_p()
        skel_prog = RECORDS["bpf_prog_skeleton"](
            name=self.name.encode(), prog=ctypes.pointer(prog_ptr),
            link=ctypes.pointer(link_ptr))
        skel = opts("bpf_object_skeleton", name=self._obj.name.encode(),
                    obj=ctypes.pointer(obj_ptr), prog_cnt=1,
                    prog_skel_sz=ctypes.sizeof(skel_prog), progs=ctypes.pointer(skel_prog))
        with capture_log(raise_pending=False) as lines:
            ret = unchecked(lib.bpf_object__attach_skeleton)(ctypes.byref(skel))
        if ret < 0:
            raise_pending()
            err = -ret
            better = (diagnose(err) if diagnose else None) or \
                self._already_attached(err, f"SEC({sec!r})", "bpf_program__attach")
            if better is not None:
                raise better
            detail = _last_reason(lines)
            raise error_for(err, f"attaching program {self.name!r} as SEC({sec!r}) failed: "
                            f"{detail or strerror(err)} [errno {err}]",
                            call="bpf_program__attach", target=self.name)
        if not link_ptr.value:
            raise_pending()
            return None
        return self._own_link(link_ptr.value, f"SEC({sec!r})")

    def attach(self) -> Link:
        """Attach as the section name says (``SEC("tp/syscalls/sys_enter_mmap")`` ...).

        Raises NotSupportedError when the section does not name a target (for
        ``SEC("uprobe")``, ``SEC("perf_event")``, ``SEC("xdp")`` ...): use the
        matching ``attach_*`` method instead."""
        link = self._auto_attach()
        if link is None:
            raise NotSupportedError(
                f"program {self.name!r}: SEC({self.section!r}) does not say where to "
                f"attach a {self.type.libbpf_name} program; use the attach_*() method "
                "for it with an explicit target", err=errno.EOPNOTSUPP,
                call="bpf_program__attach", target=self.name)
        return link

    def _check_tracepoint(self, category: str, name: str) -> None:
        fs.require_tracefs(f"attaching program {self.name!r} to tracepoint "
                           f"{category}:{name}")
        if not fs.tracepoint_exists(category, name):
            raise BPFError(errno.ENOENT, f"no tracepoint {category}:{name} on this kernel "
                           f"(not in {fs.tracefs_path()}/events/{category}/)",
                           call="bpf_program__attach_tracepoint", target=self.name)

    def attach_tracepoint(self, category: str, name: str, *, cookie: int = 0) -> Link:
        """Attach to the tracepoint ``category:name`` (e.g. ``syscalls``, ``sys_enter_mmap``).

        Needs tracefs mounted; ``cookie`` needs Linux >= 5.15."""
        self._check_tracepoint(category, name)
        o = opts("bpf_tracepoint_opts", bpf_cookie=cookie)
        return self._attach("bpf_program__attach_tracepoint_opts", category.encode(),
                            name.encode(), ctypes.byref(o), what=f"tracepoint {category}:{name}")

    def attach_raw_tracepoint(self, name: str, *, cookie: int = 0) -> Link:
        """Attach to the raw tracepoint ``name`` (e.g. ``sys_enter``).  Requires Linux >= 4.17.

        ``cookie`` (read by the program with ``bpf_get_attach_cookie()``) needs
        libbpf >= 1.4 and Linux >= 6.10."""
        def diagnose(err: int) -> BPFError | None:
            if err == errno.ENOENT:
                return BPFError(err, f"no raw tracepoint {name!r} on this kernel",
                                call="bpf_program__attach_raw_tracepoint", target=self.name)
            if cookie and err == errno.EINVAL:
                return self._kernel_lacks("raw_tracepoint_cookie", err)
            return None
        if cookie:
            o = opts("bpf_raw_tracepoint_opts", cookie=cookie)
            return self._attach("bpf_program__attach_raw_tracepoint_opts", name.encode(),
                                ctypes.byref(o), what=f"raw tracepoint {name}",
                                diagnose=diagnose)
        return self._attach("bpf_program__attach_raw_tracepoint", name.encode(),
                            what=f"raw tracepoint {name}", diagnose=diagnose)

    def _kernel_lacks(self, probe_name: str, err: int) -> BPFError | None:
        """The NotSupportedError of probe ``probe_name`` when it says no, else None."""
        from . import probe
        feature = getattr(probe, probe_name)()
        if feature:
            return None
        return NotSupportedError(f"program {self.name!r}: {feature.reason}",
                                 feature=feature.name, err=err, target=self.name)

    # -- links of libbpf >= 1.3 ------------------------------------------------------
    def attach_tcx(self, interface: str | int, *, before: Program | Link | bool | None = None,
                   after: Program | Link | bool | None = None,
                   expected_revision: int = 0) -> Link:
        """Attach a ``SEC("tcx/ingress")``/``SEC("tcx/egress")`` program to a network
        interface (name or index, in this thread's network namespace) with a tcx link.

        Several programs run in order on one interface; place this one ``before`` or
        ``after`` a program or link already attached there (``True``: first / last of
        all).  ``expected_revision`` (non-zero) makes the attach fail with ESTALE if the
        interface's program list changed since that revision.  Programs return
        ``TCX_NEXT`` (-1) to let the next one run, ``TCX_PASS``/``TCX_DROP`` to decide.
        Requires libbpf >= 1.3 and Linux >= 6.6."""
        return self._attach_ordered("bpf_program__attach_tcx", "bpf_tcx_opts", "tcx",
                                    interface, before, after, expected_revision)

    def attach_netkit(self, interface: str | int, *,
                      before: Program | Link | bool | None = None,
                      after: Program | Link | bool | None = None,
                      expected_revision: int = 0) -> Link:
        """Attach a ``SEC("netkit/primary")``/``SEC("netkit/peer")`` program to a
        netkit device (name or index) with a link; ordering as :meth:`attach_tcx`.
        Requires libbpf >= 1.3 and Linux >= 6.7 with CONFIG_NETKIT."""
        return self._attach_ordered("bpf_program__attach_netkit", "bpf_netkit_opts",
                                    "netkit", interface, before, after, expected_revision)

    def _attach_ordered(self, call: str, record: str, kind: str, interface: str | int,
                        before: Program | Link | bool | None,
                        after: Program | Link | bool | None, revision: int) -> Link:
        getattr(lib, call)  # a libbpf without it says so before anything else
        if before is not None and after is not None:
            raise ValueError("give at most one of before= and after=")
        ifindex = _ifindex(interface)
        flags, relative_fd = _relative(before, _F_BEFORE) if before is not None else \
            _relative(after, _F_AFTER) if after is not None else (0, 0)
        o = opts(record, flags=flags, relative_fd=relative_fd,
                 expected_revision=revision)

        def diagnose(err: int) -> BPFError | None:
            if err == errno.ESTALE:
                return BPFError(err, f"cannot attach {self.name!r} to {kind} on "
                                f"{interface}: its programs changed since revision "
                                f"{revision}", call=call, target=self.name)
            if err == errno.ENOENT and relative_fd:
                return BPFError(err, f"cannot attach {self.name!r} to {kind} on "
                                f"{interface}: the program or link to place it next to "
                                "is not attached there", call=call, target=self.name)
            return self._kernel_lacks(kind, err)
        return self._attach(call, ifindex, ctypes.byref(o), what=f"{kind} on {interface}",
                            diagnose=diagnose)

    def attach_netfilter(self, pf: int, hooknum: int, priority: int, flags: int = 0) -> Link:
        """Attach a ``SEC("netfilter")`` program to a netfilter hook of this thread's
        network namespace: protocol family ``pf`` (:class:`~libbpfpy.enums.NfProto`),
        hook ``hooknum`` (:class:`~libbpfpy.enums.NfHook`), ``priority`` (lower runs
        first; the extremes are reserved), ``flags``
        (:class:`~libbpfpy.enums.NetfilterFlags`, e.g. ``IP_DEFRAG``).  The program
        returns ``NF_ACCEPT`` (1) or ``NF_DROP`` (0).  Requires libbpf >= 1.3 and
        Linux >= 6.4."""
        o = opts("bpf_netfilter_opts", pf=int(pf), hooknum=int(hooknum),
                 priority=int(priority), flags=int(flags))
        what = f"netfilter pf {int(pf)} hook {int(hooknum)} priority {int(priority)}"

        def diagnose(err: int) -> BPFError | None:
            if err == errno.EPROTO:
                return BPFError(err, f"cannot attach {self.name!r}: no netfilter hook "
                                f"{int(hooknum)} for protocol family {int(pf)}",
                                call="bpf_program__attach_netfilter", target=self.name)
            if err == errno.EBUSY:
                return BPFError(err, f"cannot attach {self.name!r}: another BPF program "
                                f"holds priority {int(priority)} of that hook",
                                call="bpf_program__attach_netfilter", target=self.name)
            return self._kernel_lacks("netfilter", err)
        return self._attach("bpf_program__attach_netfilter", ctypes.byref(o), what=what,
                            diagnose=diagnose)

    def attach_uprobe_multi(self, binary: str | os.PathLike[str],
                            func_pattern: str | None = None, *,
                            syms: Sequence[str] | None = None,
                            offsets: Sequence[int] | None = None,
                            ref_ctr_offsets: Sequence[int] | None = None,
                            cookies: Sequence[int] | None = None, pid: int = -1,
                            retprobe: bool = False, session: bool = False) -> Link:
        """Attach to many functions of a user-space ``binary`` with one link: those
        whose name matches the glob ``func_pattern`` (``"mt_*"``), or the functions
        ``syms``, or the file ``offsets``.  ``cookies`` (one per sym/offset) are read
        with ``bpf_get_attach_cookie()``; ``pid`` -1 means every process; ``retprobe``
        attaches to the returns, ``session`` to entry and return with one program
        (libbpf >= 1.7, Linux >= 6.13).  Requires libbpf >= 1.3 and Linux >= 6.6."""
        lib.bpf_program__attach_uprobe_multi  # noqa: B018 - a libbpf without it says so first
        given = [x for x in (func_pattern, syms, offsets) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of func_pattern, syms and offsets")
        count = len(syms if syms is not None else offsets or ())
        if func_pattern is not None and (cookies is not None or ref_ctr_offsets is not None):
            raise ValueError("cookies and ref_ctr_offsets need syms or offsets, one each "
                             "(a pattern matches an unknown number of functions)")
        if func_pattern is None and count == 0:
            raise ValueError("syms/offsets must not be empty")
        for name, seq in (("cookies", cookies), ("ref_ctr_offsets", ref_ctr_offsets)):
            if seq is not None and len(seq) != count:
                raise ValueError(f"{name} must match syms/offsets one to one "
                                 f"({len(seq)} for {count})")
        arrays: dict[str, Any] = {}
        if syms is not None:
            arrays["syms"] = (ctypes.c_char_p * count)(*[s.encode() for s in syms])
        for name, seq, ctype in (("offsets", offsets, ctypes.c_ulong),
                                 ("ref_ctr_offsets", ref_ctr_offsets, ctypes.c_ulong),
                                 ("cookies", cookies, ctypes.c_uint64)):
            if seq is not None:
                arrays[name] = (ctype * count)(*seq)
        # ctypes stores an array into a pointer field as its address; `arrays` keeps
        # them alive until libbpf has copied them (during the attach below).
        o = opts("bpf_uprobe_multi_opts", retprobe=retprobe, session=session or None,
                 cnt=count if func_pattern is None else 0, **arrays)
        path = os.fspath(binary)
        what = f"uprobe.multi {path}:{func_pattern or ','.join(syms or []) or 'offsets'}"

        def diagnose(err: int) -> BPFError | None:
            if err == errno.ENOENT and not os.path.exists(path):
                return BPFError(err, f"cannot attach {what}: {path} does not exist",
                                call="bpf_program__attach_uprobe_multi", target=self.name)
            if err == errno.ENOENT:
                return BPFError(err, f"cannot attach {what}: no matching function in its "
                                "symbol tables", call="bpf_program__attach_uprobe_multi",
                                target=self.name)
            return self._kernel_lacks("uprobe_multi", err)
        return self._attach("bpf_program__attach_uprobe_multi", pid, os.fsencode(path),
                            func_pattern.encode() if func_pattern else None,
                            ctypes.byref(o), what=what, diagnose=diagnose)

    def attach_sockmap(self, map: MapAPI) -> Link:
        """Attach an ``sk_skb``/``sk_msg`` program to a sockmap or sockhash with a link
        (unlike the old ``bpf_prog_attach``, it detaches when the link goes).
        Requires libbpf >= 1.5 and Linux >= 6.10."""
        return self._attach("bpf_program__attach_sockmap", map.fd,
                            what=f"sockmap {map.name!r}",
                            diagnose=lambda err: self._kernel_lacks("sockmap_link", err))

    def _kprobe_diagnosis(self, what: str, func: str | None = None, *, retprobe: bool = False
                          ) -> Callable[[int], BPFError | None]:
        def diagnose(err: int) -> BPFError | None:
            from . import probe
            feature = probe.kprobes()
            if not feature:
                return NotSupportedError(
                    f"cannot attach program {self.name!r} to {what}: {feature.reason}",
                    feature="kprobe", err=err, target=self.name,
                    hint=probe.kprobe_alternative(func, retprobe=retprobe))
            return None
        return diagnose

    def attach_kprobe(self, func: str, *, offset: int = 0, retprobe: bool = False,
                      cookie: int = 0) -> Link:
        """Attach to kernel function ``func`` (+``offset``) entry, or return if
        ``retprobe``.  Requires a kernel with CONFIG_KPROBES."""
        o = opts("bpf_kprobe_opts", bpf_cookie=cookie, offset=offset, retprobe=retprobe)
        what = f"{'kretprobe' if retprobe else 'kprobe'} {func}"
        return self._attach("bpf_program__attach_kprobe_opts", func.encode(),
                            ctypes.byref(o), what=what,
                            diagnose=self._kprobe_diagnosis(what, func, retprobe=retprobe))

    def attach_kretprobe(self, func: str, *, cookie: int = 0) -> Link:
        """Attach to the return of kernel function ``func``."""
        return self.attach_kprobe(func, retprobe=True, cookie=cookie)

    def attach_ksyscall(self, name: str, *, retprobe: bool = False, cookie: int = 0) -> Link:
        """Attach to system call ``name`` (``"mmap"``) whatever its kernel symbol is.
        Requires CONFIG_KPROBES; libbpf >= 1.0."""
        o = opts("bpf_ksyscall_opts", bpf_cookie=cookie, retprobe=retprobe)
        what = f"{'kretsyscall' if retprobe else 'ksyscall'} {name}"
        return self._attach("bpf_program__attach_ksyscall", name.encode(), ctypes.byref(o),
                            what=what, diagnose=self._kprobe_diagnosis(
                                what, f"sys_{name}", retprobe=retprobe))

    def attach_kprobe_multi(self, pattern: str | None = None, *,
                            syms: Sequence[str] | None = None, retprobe: bool = False,
                            cookies: Sequence[int] | None = None) -> Link:
        """Attach to many kernel functions at once, by glob ``pattern`` (``*`` and
        ``?``) or ``syms``.  Requires Linux >= 5.18 with CONFIG_FPROBE.

        libbpf before 1.2 matched a pattern against ``/proc/kallsyms``, which also lists
        functions ftrace cannot trace, and the kernel then refuses the whole set with
        EINVAL; with such a libbpf the pattern is matched here against tracefs'
        ``available_filter_functions``, as newer libbpf does."""
        if (pattern is None) == (syms is None):
            raise ValueError("give exactly one of pattern and syms")
        if pattern is not None and _libbpf_matches_kallsyms():
            matched = fs.traceable_functions(pattern)
            if matched == []:
                raise BPFError(errno.ENOENT, f"no traceable kernel function matches "
                               f"{pattern!r} (in {fs.tracefs_path()}/"
                               "available_filter_functions)",
                               call="bpf_program__attach_kprobe_multi_opts", target=self.name)
            if matched is not None:
                syms, pattern = matched, None
        keep: list[Any] = []
        o = opts("bpf_kprobe_multi_opts", retprobe=retprobe)
        if syms is not None:
            arr = (ctypes.c_char_p * len(syms))(*[s.encode() for s in syms])
            keep.append(arr)
            o.syms = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
            o.cnt = len(syms)
            if cookies is not None:
                if len(cookies) != len(syms):
                    raise ValueError("cookies must match syms one to one")
                carr = (ctypes.c_ulonglong * len(cookies))(*cookies)
                keep.append(carr)
                o.cookies = ctypes.cast(carr, ctypes.POINTER(ctypes.c_ulonglong))
        what = f"kprobe.multi {pattern or ','.join(syms or [])}"
        return self._attach("bpf_program__attach_kprobe_multi_opts",
                            pattern.encode() if pattern else None, ctypes.byref(o),
                            what=what, diagnose=self._kprobe_multi_diagnosis(what))

    def _kprobe_multi_diagnosis(self, what: str) -> Callable[[int], BPFError | None]:
        # fprobe-based: needs CONFIG_FPROBE, not kprobes
        def diagnose(err: int) -> BPFError | None:
            from . import probe
            feature = probe.kprobe_multi()
            if not feature:
                return NotSupportedError(
                    f"cannot attach program {self.name!r} to {what}: {feature.reason}",
                    feature="kprobe_multi", err=err, target=self.name,
                    hint="attach kprobes one function at a time (attach_kprobe), or "
                    "fentry programs, where the kernel allows them")
            return None
        return diagnose

    def attach_uprobe(self, binary: str | os.PathLike[str], *, func_name: str | None = None,
                      offset: int = 0, pid: int = -1, retprobe: bool = False,
                      cookie: int = 0, ref_ctr_offset: int = 0) -> Link:
        """Attach to a user-space function: ``func_name`` (+``offset``) or a raw
        ``offset`` in ``binary``; ``pid`` -1 means every process.  ``func_name`` needs
        libbpf >= 0.8, ``cookie`` Linux >= 5.15."""
        path = os.fspath(binary)
        o = opts("bpf_uprobe_opts", bpf_cookie=cookie, retprobe=retprobe,
                 func_name=func_name.encode() if func_name else None,
                 ref_ctr_offset=ref_ctr_offset)
        what = f"{'uretprobe' if retprobe else 'uprobe'} {path}:{func_name or hex(offset)}"

        def diagnose(err: int) -> BPFError | None:
            if err == errno.ENOENT and not os.path.exists(path) and "/" in path:
                return BPFError(err, f"cannot attach {what}: {path} does not exist",
                                call="bpf_program__attach_uprobe_opts", target=self.name)
            if err == errno.ENOENT and func_name:
                return BPFError(err, f"cannot attach {what}: no function {func_name!r} "
                                "in its symbol tables", call="bpf_program__attach_uprobe_opts",
                                target=self.name)
            return None
        return self._attach("bpf_program__attach_uprobe_opts", pid, os.fsencode(path),
                            offset, ctypes.byref(o), what=what, diagnose=diagnose)

    def attach_usdt(self, binary: str | os.PathLike[str], provider: str, name: str, *,
                    pid: int = -1, cookie: int = 0) -> Link:
        """Attach to the USDT probe ``provider:name`` in ``binary`` (``pid`` -1: every
        process).  Requires libbpf >= 1.0 and a ``SEC("usdt")`` program."""
        path = os.fspath(binary)
        o = opts("bpf_usdt_opts", usdt_cookie=cookie)
        return self._attach("bpf_program__attach_usdt", pid, os.fsencode(path),
                            provider.encode(), name.encode(), ctypes.byref(o),
                            what=f"usdt {path}:{provider}:{name}")

    def attach_perf_event(self, fd: int, *, cookie: int = 0) -> Link:
        """Attach to the perf event ``fd`` (from perf_event_open); the link keeps its
        own duplicate of ``fd``.  ``cookie`` needs Linux >= 5.15."""
        dup = dup_fd(fd)
        o = opts("bpf_perf_event_opts", bpf_cookie=cookie)
        try:
            return self._attach("bpf_program__attach_perf_event_opts", dup, ctypes.byref(o),
                                what=f"perf event fd {fd}")
        except BaseException:
            os.close(dup)
            raise

    def _feature_diagnosis(self, what: str) -> Callable[[int], BPFError | None]:
        def diagnose(err: int) -> BPFError | None:
            from .probe import for_program
            feature = for_program(self.type, self.expected_attach_type)
            if not feature:
                return NotSupportedError(f"cannot attach program {self.name!r} as {what}: "
                                         f"{feature.reason}", feature=feature.name, err=err,
                                         target=self.name)
            return None
        return diagnose

    def attach_trace(self, *, cookie: int = 0) -> Link:
        """Attach a fentry/fexit/fmod_ret/tp_btf program to its BTF target.  Requires
        Linux >= 5.5 (tp_btf) or BPF trampolines (fentry/fexit)."""
        o = opts("bpf_trace_opts", cookie=cookie)
        return self._attach("bpf_program__attach_trace_opts", ctypes.byref(o),
                            what=f"trace target of SEC({self.section!r})",
                            diagnose=self._feature_diagnosis("trace"))

    def attach_lsm(self) -> Link:
        """Attach an LSM program to its hook.  Requires Linux >= 5.7 with
        CONFIG_BPF_LSM and bpf in the kernel's lsm= list."""
        return self._attach("bpf_program__attach_lsm", what=f"lsm hook of "
                            f"SEC({self.section!r})", diagnose=self._feature_diagnosis("lsm"))

    def attach_cgroup(self, cgroup: str | os.PathLike[str] | int) -> Link:
        """Attach to a cgroup (v2 directory path or an open fd) with a BPF link.
        Requires Linux >= 5.7."""
        return self._with_fd(cgroup, "bpf_program__attach_cgroup", "cgroup")

    def attach_netns(self, netns: str | os.PathLike[str] | int) -> Link:
        """Attach a ``sk_lookup`` or ``flow_dissector`` program to a network namespace
        (``/proc/PID/ns/net``, ``/var/run/netns/NAME`` or an open fd).  Requires Linux
        >= 5.7 (flow_dissector) or 5.9 (sk_lookup)."""
        return self._with_fd(netns, "bpf_program__attach_netns", "netns")

    def _with_fd(self, target: str | os.PathLike[str] | int, call: str, kind: str) -> Link:
        if isinstance(target, int):
            return self._attach(call, target, what=f"{kind} fd {target}")
        path = os.fspath(target)
        try:
            fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if kind == "cgroup" else 0))
        except OSError as exc:
            raise BPFError(exc.errno or errno.ENOENT, f"cannot open {kind} {path}: "
                           f"{exc.strerror}", call="open", target=path) from None
        try:
            return self._attach(call, fd, what=f"{kind} {path}")
        finally:
            os.close(fd)

    def attach_xdp(self, interface: str | int) -> Link:
        """Attach an XDP program to a network interface (name or index, in this
        thread's network namespace) with a link.  Requires Linux >= 5.9."""
        ifindex = _ifindex(interface)
        return self._attach("bpf_program__attach_xdp", ifindex, what=f"xdp on {interface}")

    def attach_iter(self, *, map: MapAPI | None = None) -> Link:
        """Attach an iterator program; ``map`` for map-element iterators.  Read its
        output with ``Link.read()``.  Requires Linux >= 5.8 (5.9 for map elements)."""
        if map is None:
            return self._attach("bpf_program__attach_iter", None, what="iterator")
        info = RECORDS["bpf_iter_link_info"]()
        info.map.map_fd = map.fd
        o = opts("bpf_iter_attach_opts", link_info=ctypes.pointer(info),
                 link_info_len=ctypes.sizeof(info))
        return self._attach("bpf_program__attach_iter", ctypes.byref(o),
                            what=f"iterator over map {map.name!r}")

    def attach_freplace(self, target_fd: int, func_name: str) -> Link:
        """Replace function ``func_name`` of the program ``target_fd`` (Linux >= 5.6)."""
        return self._attach("bpf_program__attach_freplace", target_fd, func_name.encode(),
                            what=f"freplace {func_name}",
                            diagnose=self._feature_diagnosis("freplace"))

    @property
    def links(self) -> list[Link]:
        """Links made from this program that are still open."""
        return [link for link in self._links if not link.closed]

    # -- running -----------------------------------------------------------------------
    def test_run(self, data: bytes | bytearray | memoryview = b"", *,
                 ctx: bytes | bytearray | memoryview | Any | None = None, repeat: int = 1,
                 data_size_out: int | None = None, flags: int = 0,
                 cpu: int = 0) -> TestRunResult:
        """Run the program in the kernel (``BPF_PROG_TEST_RUN``) and return retval,
        data out, ctx out and the average duration.

        ``data`` is the packet for networking programs (XDP, tc, socket filters,
        flow dissector ...), run ``repeat`` times.  ``ctx`` is the context: for
        ``syscall`` programs the argument struct, which the kernel writes back (into
        ``ctx`` itself when it is a ctypes object); for ``raw_tp`` programs the
        array of u64 arguments; for networking programs an ``xdp_md``/``__sk_buff``.
        ``data_size_out`` bounds the packet out (by default the packet plus room for
        the program to grow it; a bigger packet is fetched with one more run).
        ``flags``/``cpu``: ``BPF_F_TEST_RUN_ON_CPU`` for raw_tp.  Sizes, counts and
        flags must fit their C types (u32): anything else raises ``ValueError``,
        ``OverflowError`` or ``TypeError`` naming the argument, before the kernel
        sees it.  Requires Linux >= 4.12 (networking), 5.10 (raw_tp), 5.14 (syscall).
        """
        repeat = _args.uint(repeat, "repeat", minimum=1)
        flags = _args.uint(flags, "flags")
        cpu = _args.uint(cpu, "cpu")
        if data_size_out is not None:
            # The kernel reads 0 as "no limit" and would write the whole packet out.
            data_size_out = _args.uint(data_size_out, "data_size_out", minimum=1)
        _args.uint(len(data), "len(data)")
        fd = self.fd
        ptype = self.type
        # syscall and raw_tp runs take a context only: no packet, no output
        # buffers, no repeat (the kernel answers EINVAL to any of them).
        ctx_only = ptype in (ProgType.SYSCALL, ProgType.RAW_TRACEPOINT,
                             ProgType.RAW_TRACEPOINT_WRITABLE)
        if ctx_only and len(data):
            raise ValueError(f"{ptype.libbpf_name} program {self.name!r} takes no packet "
                             "data: pass its context as ctx=")
        if ctx_only and repeat != 1:
            raise ValueError(f"{ptype.libbpf_name} programs run once per test_run "
                             "(repeat must be 1)")
        keep: list[Any] = []
        o = opts("bpf_test_run_opts", flags=flags, cpu=cpu)
        if len(data):
            din = ctypes.create_string_buffer(bytes(data), len(data))
            keep.append(din)
            o.data_in = ctypes.addressof(din)
            o.data_size_in = len(data)
        if not ctx_only:
            o.repeat = repeat
        ctx_obj: Any = None
        cout: Any = None
        if ctx is not None:
            if isinstance(ctx, (bytes, bytearray, memoryview)):
                raw_ctx = bytes(ctx)
                ctx_obj = ctypes.create_string_buffer(raw_ctx, len(raw_ctx))
            elif _is_ctypes(ctx):
                ctx_obj = ctx  # a ctypes instance: the kernel may write back into it
            else:
                raise TypeError(f"ctx must be bytes-like or a ctypes object, not "
                                f"{type(ctx).__name__}")
            _args.uint(ctypes.sizeof(ctx_obj), "ctx size")
            o.ctx_in = ctypes.addressof(ctx_obj)
            o.ctx_size_in = ctypes.sizeof(ctx_obj)
            if not ctx_only:
                cout = ctypes.create_string_buffer(ctypes.sizeof(ctx_obj))
                o.ctx_out = ctypes.addressof(cout)
                o.ctx_size_out = ctypes.sizeof(cout)
        dout: Any = None
        size = 0
        if not ctx_only and (len(data) or data_size_out):
            size = data_size_out if data_size_out is not None else len(data) + 256
            dout = ctypes.create_string_buffer(max(size, 1))
            o.data_out = ctypes.addressof(dout)
            o.data_size_out = size
        ret = lib.bpf_prog_test_run_opts(fd, ctypes.byref(o))
        if ret == -errno.ENOSPC and dout is not None and data_size_out is None \
                and o.data_size_out > size:
            # The packet grew past our buffer; the kernel said how big it is.
            size = o.data_size_out
            dout = ctypes.create_string_buffer(size)
            o.data_out = ctypes.addressof(dout)
            o.data_size_out = size
            ret = lib.bpf_prog_test_run_opts(fd, ctypes.byref(o))
        if ret < 0:
            err = -ret
            if err in (errno.ENOTSUP, errno.EOPNOTSUPP, 524):
                raise NotSupportedError(
                    f"{ptype.libbpf_name} programs cannot be test-run on this kernel "
                    f"(BPF_PROG_TEST_RUN does not support them); program {self.name!r}",
                    err=err, call="bpf_prog_test_run_opts", target=self.name)
            check_int(ret, "bpf_prog_test_run_opts", f"program {self.name!r}")
        data_out = dout.raw[:o.data_size_out] if dout is not None else b""
        if cout is not None:
            ctx_out = cout.raw[:o.ctx_size_out]
        elif ctx_obj is not None:
            ctx_out = ctypes.string_at(ctypes.addressof(ctx_obj), ctypes.sizeof(ctx_obj))
        else:
            ctx_out = b""
        # The kernel's retval is a u32; programs return signed values (TC_ACT_UNSPEC
        # is -1), so report it signed.
        return TestRunResult(retval=ctypes.c_int32(o.retval).value, data=data_out,
                             ctx=ctx_out, duration_ns=o.duration)

    # -- debug information (libbpf >= 1.6) --------------------------------------------
    def _debug_records(self, kind: str) -> tuple[Any, list[Any]]:
        """The object's BTF and libbpf's ``kind`` records (``func_info`` or
        ``line_info``) of this program; none without BTF."""
        self._check()
        ptr = getattr(lib, f"bpf_program__{kind}")(self._ptr)
        count = int(getattr(lib, f"bpf_program__{kind}_cnt")(self._ptr))
        btf = self._obj.btf
        if not ptr or not count or btf is None:
            return btf, []
        return btf, [ptr[i] for i in range(count)]

    def func_info(self) -> list[FuncInfo]:
        """The program's functions (its BTF ``func_info``) as libbpf holds them once
        the object is prepared or loaded.  Requires libbpf >= 1.6 and BTF in the object."""
        btf, records = self._debug_records("func_info")
        return [FuncInfo(int(r.insn_off), int(r.type_id), btf[r.type_id].name or "")
                for r in records]

    def line_info(self) -> list[LineInfo]:
        """The program's source lines (its BTF ``line_info``) once the object is
        prepared or loaded.  Requires libbpf >= 1.6 and an object compiled with -g."""
        btf, records = self._debug_records("line_info")
        return [LineInfo(int(r.insn_off), btf.string(r.file_name_off),
                         btf.string(r.line_off), int(r.line_col) >> 10,
                         int(r.line_col) & 0x3FF) for r in records]

    # -- streams (libbpf >= 1.6, Linux >= 6.17) ------------------------------------------
    def stream_read(self, stream: str | int = "stdout", size: int = 65536) -> bytes:
        """Take up to ``size`` bytes of what the program wrote to its ``"stdout"`` or
        ``"stderr"`` stream (``bpf_stream_printk()``; the kernel also writes errors of
        the program there, such as a may_goto timeout or an arena fault).  What is read
        is gone from the stream; b"" when it is empty.  Requires libbpf >= 1.6 and
        Linux >= 6.17."""
        call = lib.bpf_prog_stream_read  # a libbpf without it says which one has it
        stream_id = STREAMS.get(stream, 0) if isinstance(stream, str) else int(stream)
        if stream_id not in STREAMS.values():
            raise ValueError(f"no BPF stream {stream!r} (use 'stdout' or 'stderr')")
        if size <= 0:
            raise ValueError("size must be > 0")
        buf = ctypes.create_string_buffer(size)
        o = opts("bpf_prog_stream_read_opts")
        ret = call(self.fd, stream_id, buf, size, ctypes.byref(o))
        if ret < 0:
            if -ret == errno.EINVAL:
                better = self._kernel_lacks("streams", -ret)
                if better is not None:
                    raise better
            check_int(ret, "bpf_prog_stream_read", f"program {self.name!r}")
        return buf.raw[:ret]

    def streams(self, stream: str | int | None = None) -> Iterator[tuple[str, str]]:
        """Each complete line the program wrote, as ``(stream, line)`` (``"stdout"``
        or ``"stderr"``), reading the stream(s) until empty: ``for name, line in
        prog.streams(): ...``.  A last line without a newline is yielded as well."""
        names = list(STREAMS) if stream is None else [
            stream if isinstance(stream, str) else
            next((k for k, v in STREAMS.items() if v == stream), str(stream))]
        for name in names:
            pending = b""
            while True:
                chunk = self.stream_read(name)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield name, line.decode(errors="replace")
            if pending:
                yield name, pending.decode(errors="replace")

    # -- struct_ops association (libbpf >= 1.7, Linux >= 6.19) -------------------------------
    def assoc_struct_ops(self, map: Any) -> None:
        """Associate this (non-struct_ops) program with struct_ops map ``map``, so that
        kfuncs it calls can find the struct_ops instance it serves.  Requires
        libbpf >= 1.7 and Linux >= 6.19."""
        call = lib.bpf_program__assoc_struct_ops  # a libbpf without it says so first
        self._check()
        o = opts("bpf_prog_assoc_struct_ops_opts")
        ret = call(self._ptr, map._ptr_checked(), ctypes.byref(o))
        if ret < 0:
            better = self._kernel_lacks("struct_ops_association", -ret)
            if better is not None:
                raise better
            check_int(ret, "bpf_program__assoc_struct_ops",
                      f"program {self.name!r} with map {map.name!r}")

    # -- pinning -------------------------------------------------------------------------
    def pin(self, path: str | os.PathLike[str]) -> None:
        """Pin the loaded program at ``path`` on a BPF filesystem."""
        self._check()
        p = os.fspath(path)
        check_int(lib.bpf_program__pin(self._ptr, os.fsencode(p)), "bpf_program__pin",
                  f"program {self.name!r} at {p}", hint=fs.bpffs_hint(p))

    def unpin(self, path: str | os.PathLike[str]) -> None:
        """Remove the program's pin at ``path``."""
        self._check()
        p = os.fspath(path)
        check_int(lib.bpf_program__unpin(self._ptr, os.fsencode(p)), "bpf_program__unpin",
                  f"program {self.name!r} at {p}")

    def info(self) -> ProgramInfo:
        """Kernel information about the loaded program: id, tag, map ids, BTF id,
        load time, run counts (see :class:`~libbpfpy.ProgramInfo`)."""
        from .inventory import ProgramInfo
        return ProgramInfo.from_fd(self.fd)

    def __repr__(self) -> str:
        if self._obj.closed:
            return f"<Program {self.name!r} closed>"
        return f"<Program {self.name!r} SEC({self.section!r}) {self.type.libbpf_name}>"


def _is_ctypes(value: Any) -> bool:
    return isinstance(value, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union,
                              ctypes.Array))


_F_BEFORE = 1 << 3   # BPF_F_BEFORE (linux/bpf.h #defines: not in the generated table)
_F_AFTER = 1 << 4    # BPF_F_AFTER
_F_LINK = 1 << 13    # BPF_F_LINK: relative_fd is a link


def _relative(anchor: Program | Link | bool, where: int) -> tuple[int, int]:
    """(flags, relative_fd) placing a tcx/netkit attachment next to ``anchor``."""
    if anchor is True:
        return where, 0
    if isinstance(anchor, Program):
        return where, anchor.fd
    if isinstance(anchor, Link):
        return where | _F_LINK, anchor.fd
    raise TypeError(f"before=/after= take a Program, a Link or True, not {anchor!r}")


_KPROBE_MULTI_PREFIXES = ("kprobe.multi", "kretprobe.multi")


def _kprobe_multi_works() -> bool:
    from . import probe
    return bool(probe.kprobe_multi())


def _libbpf_matches_kallsyms() -> bool:
    """Whether this libbpf resolves kprobe_multi globs against kallsyms (< 1.2)."""
    from ._raw import version
    return tuple(int(x) for x in version.split(".")[:2]) < (1, 2)


def _ifindex(interface: str | int) -> int:
    if isinstance(interface, int):
        return interface
    try:
        import socket  # rarely needed: keep it off the import path of every tool
        return socket.if_nametoindex(interface)
    except OSError:
        raise BPFError(errno.ENODEV, f"no network interface {interface!r}",
                       call="if_nametoindex", target=interface) from None


def _last_reason(lines: list[str]) -> str:
    """libbpf's last message, without its prefix: usually why the call failed."""
    for line in reversed("".join(lines).splitlines()):
        line = line.strip()
        if line:
            return line.removeprefix("libbpf: ")
    return ""
