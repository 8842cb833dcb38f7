"""Feature probes: what this kernel and this libbpf can do.  Results are cached.

Each probe returns a :class:`Feature`: true or false, with ``reason`` saying what
was checked and what was found, so that a skipped test or a refused attach can
quote it.  Probes load tiny programs, so most need BPF privileges; without them a
probe answers false with a reason that says so.

Answers are kept for the process, and on disk for the rest of the boot: a file in
libbpfpy's cache directory (see :mod:`._cache`) holds the answers obtained with BPF
privileges, valid while ``/proc/sys/kernel/random/boot_id`` and the libbpf in use
are the same, so a tool started again loads no probe program (and no kernel BTF).
A process that cannot make the bpf() syscall (seccomp) neither reads nor writes it.
``LIBBPFPY_PROBE_CACHE=0`` turns the file off; :func:`clear_cache` empties it.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import threading
from collections.abc import Callable
from typing import NamedTuple

from . import _cache, fs
from ._caps import has_bpf_privileges
from ._raw import CONSTANTS, ENUMS, RECORDS, lib, library_path, opts
from ._raw import version as libbpf_version_str
from .enums import AttachType, MapType, ProgType, parse_enum
from .errors import a_or_an

__all__ = ["Feature", "prog_type", "for_program", "kernel_btf_id", "map_type", "helper",
           "kprobes", "uprobes", "kprobe_multi", "fentry", "fmod_ret", "lsm", "iterators",
           "iterator", "iterator_targets", "syscall_symbol", "kprobe_alternative", "tp_btf",
           "tracefs", "tracepoint", "bpffs", "kernel_version", "privileges", "libbpf_version",
           "attach_kinds", "clear_cache", "tcx", "netkit", "netfilter", "uprobe_multi",
           "sockmap_link", "raw_tracepoint_cookie", "token", "streams", "exclusive_maps",
           "struct_ops_association", "link_kinds", "bpf_features", "user_namespaces"]


class Feature(NamedTuple):
    """A probe's answer: truthy when supported; ``reason`` explains either way."""

    name: str
    supported: bool
    reason: str

    def __bool__(self) -> bool:
        return self.supported

    def __str__(self) -> str:
        return f"{self.name}: {'yes' if self.supported else 'no'} ({self.reason})"


def libbpf_version() -> str:
    """The installed libbpf's version, ``"major.minor"``."""
    return libbpf_version_str


def _libbpf_answer(name: str, ret: int, yes: str, no: str) -> Feature:
    """A libbpf_probe_bpf_*() result (1 supported, 0 not, <0 -errno) as a Feature."""
    if ret == 1:
        return Feature(name, True, yes)
    if ret == 0:
        return Feature(name, False, no)
    if ret == -errno.EOPNOTSUPP:  # a type newer than this libbpf, for one
        return Feature(name, False, f"libbpf {libbpf_version_str} cannot probe it "
                       "(EOPNOTSUPP: it does not know how)")
    return Feature(name, False, f"probe failed: {os.strerror(-ret)}")


# -- answers kept for the boot ------------------------------------------------------------

_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_STORE_HEADER = "libbpfpy-probes-1"
_STORE_NAME = "probes"          # in the cache directory, mode 0600


class _Store:
    """Probe answers of this boot on disk: ``key<TAB>value<TAB>reason`` lines after a
    header naming the format, the boot and the libbpf they were obtained with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str, str]] | None = None
        self._root: str | None = None   # the checked cache directory
        self._header = ""

    def _load(self) -> dict[str, tuple[str, str]]:
        answers = self._answers
        if answers is not None:
            return answers
        answers = {}
        if os.environ.get("LIBBPFPY_PROBE_CACHE", "1") != "0" and _bpf_syscall_works():
            raw = None
            try:
                with open(_BOOT_ID) as f:
                    boot = f.read().strip()
                with _cache.Dir.root() as d:
                    self._root = d.path
                    raw = d.read(_STORE_NAME)
            except (OSError, ValueError):  # no boot id, or an untrusted cache dir
                boot = ""
            if boot and self._root:
                self._header = (f"{_STORE_HEADER}\nboot {boot}\nlibbpf "
                                f"{libbpf_version_str} {library_path}\n")
                text = raw.decode(errors="replace") if raw else ""
                if text.startswith(self._header):
                    for line in text[len(self._header):].splitlines():
                        parts = line.split("\t")
                        if len(parts) == 3:
                            answers[parts[0]] = (parts[1], parts[2])
            else:
                self._root = None
        self._answers = answers
        return answers

    def get(self, key: str) -> tuple[str, str] | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, value: str, reason: str) -> None:
        with self._lock:
            answers = self._load()
            answers[key] = (value, " ".join(reason.split()))
            if self._root is None:
                return
            body = "".join(f"{k}\t{v}\t{r}\n" for k, (v, r) in answers.items())
            try:
                with _cache.Dir.root(self._root) as d:
                    d.write(_STORE_NAME, (self._header + body).encode(), mode=0o600)
            except OSError:
                pass  # a read-only cache: answers stay for this process only

    def clear(self) -> None:
        with self._lock:
            if self._answers is not None and self._root is not None:
                try:
                    with _cache.Dir.root(self._root) as d:
                        d.unlink(_STORE_NAME)
                except OSError:
                    pass
            self._answers = None


_store = _Store()


def _bpf_syscall_works() -> bool:
    """Whether this process can make the bpf() syscall at all (a seccomp filter or a
    sandbox may deny it where the kernel has it): the kept answers are the kernel's,
    and say nothing of a process the syscall is closed to."""
    nxt = ctypes.c_uint32()
    ret = int(lib.bpf_prog_get_next_id(0, ctypes.byref(nxt)))
    return ret == 0 or ret == -errno.ENOENT


def _remembered(key: str, name: str, compute: Callable[[], Feature]) -> Feature:
    """The kept answer for ``key``, or ``compute()``'s, kept if it is a definitive
    answer about the kernel (obtained with privileges, not a failed probe)."""
    hit = _store.get(key)
    if hit is not None:
        return Feature(name, hit[0] == "1", hit[1])
    f = compute()
    if has_bpf_privileges() and not f.reason.startswith("probe failed"):
        _store.put(key, "1" if f.supported else "0", f.reason)
    return f


def _no_privileges(name: str) -> Feature | None:
    if not has_bpf_privileges():
        return Feature(name, False, "cannot probe without CAP_BPF/CAP_SYS_ADMIN "
                       "(run as root)")
    return None


@functools.cache
def prog_type(ptype: ProgType | int | str) -> Feature:
    """Whether the kernel loads programs of type ``ptype``."""
    t = parse_enum(ProgType, ptype)
    name = f"prog_type {t.libbpf_name}"
    if t == ProgType.TRACING:
        # fentry, fexit, iterators and tp_btf share this type; one of them is enough.
        options = [iterators(), tp_btf(), fentry()]
        good = [f for f in options if f]
        return Feature(name, bool(good), "; ".join(f.reason for f in (good or options)))
    if t == ProgType.EXT:
        f = fentry()
        return Feature(name, f.supported, f.reason)
    if t == ProgType.LSM:
        f = lsm()
        return Feature(name, f.supported, f.reason)
    denied = _no_privileges(name)
    if denied is not None:  # a Feature, falsy by design
        return denied
    return _remembered(name, name, lambda: _libbpf_answer(
        name, lib.libbpf_probe_bpf_prog_type(int(t), None),
        f"a trivial {t.libbpf_name} program loaded",
        f"the kernel refuses {t.libbpf_name} programs"))


def for_program(ptype: ProgType | int | str, attach: AttachType | int | None = None,
                section: str | None = None) -> Feature:
    """The probe that says whether a program of type ``ptype`` (with expected attach
    type ``attach``, from ELF section ``section``) can run here: tracing programs split
    by attach kind (iterators -- per target, since a kernel may allow ``iter/task``
    and refuse ``iter/bpf_map_elem`` -- and tp_btf load where fentry/fexit may be
    refused), LSM and freplace (``ext``) by their own probes, everything else by
    :func:`prog_type`."""
    t = parse_enum(ProgType, ptype)
    if t == ProgType.TRACING and attach == AttachType.TRACE_ITER:
        prefix, _, target = (section or "").partition("/")
        if prefix in ("iter", "iter.s") and target:
            return iterator(target)
        return iterators()
    if t == ProgType.TRACING and attach == AttachType.TRACE_RAW_TP:
        return tp_btf()
    if t == ProgType.TRACING and attach == AttachType.MODIFY_RETURN:
        prefix, _, target = (section or "").partition("/")
        return fmod_ret(target or None)
    if t in (ProgType.TRACING, ProgType.EXT):
        return fentry()
    if t == ProgType.LSM:
        return lsm()
    return prog_type(t)


@functools.cache
def map_type(mtype: MapType | int | str) -> Feature:
    """Whether the kernel creates maps of type ``mtype``."""
    t = parse_enum(MapType, mtype)
    name = f"map_type {t.libbpf_name}"
    denied = _no_privileges(name)
    if denied is not None:  # a Feature, falsy by design
        return denied
    return _remembered(name, name, lambda: _libbpf_answer(
        name, lib.libbpf_probe_bpf_map_type(int(t), None),
        f"{a_or_an(t.libbpf_name)} map was created",
        f"the kernel refuses {t.libbpf_name} maps"))


def _helper_id(helper_ref: int | str) -> int:
    if isinstance(helper_ref, int):
        return helper_ref
    ids = ENUMS["bpf_func_id"]
    key = helper_ref.removeprefix("bpf_")
    for cand in (f"BPF_FUNC_{key}", helper_ref):
        if cand in ids:
            return ids[cand]
    raise ValueError(f"unknown BPF helper {helper_ref!r}")


# What a probe program of these types needs besides its type (as libbpf's own
# probes set it up).
_PROBE_ATTACH = {
    ProgType.CGROUP_SOCK_ADDR: AttachType.CGROUP_INET4_CONNECT,
    ProgType.CGROUP_SOCKOPT: AttachType.CGROUP_GETSOCKOPT,
    ProgType.SK_LOOKUP: AttachType.SK_LOOKUP,
}
_BPF_F_SLEEPABLE = 1 << 4
# The verifier's words for "this program type may not call that helper", old and new.
_HELPER_REFUSED = ("unknown func ", "invalid func ", "cannot use helper")


@functools.cache
def helper(ptype: ProgType | int | str, helper_ref: int | str) -> Feature:
    """Whether programs of ``ptype`` may call ``helper_ref`` (name like
    ``"bpf_ringbuf_output"`` or its id).

    A program calling the helper is loaded with a verifier log: the helper is
    refused when the verifier says so (``unknown func``, or on newer kernels
    ``program of this type cannot use helper``, which libbpf 1.1's own probe does
    not recognise), and available otherwise, even when the verifier rejects only
    the probe's arguments.  Tracing, LSM, EXT and struct_ops programs cannot be
    loaded without a target: for them libbpf's probe answers.
    """
    t = parse_enum(ProgType, ptype)
    hid = _helper_id(helper_ref)
    name = f"helper {helper_ref} in {t.libbpf_name}"
    denied = _no_privileges(name)
    if denied is not None:  # a Feature, falsy by design
        return denied
    base = prog_type(t)
    if not base:
        return Feature(name, False, base.reason)
    return _remembered(f"helper {hid} in {t.libbpf_name}", name,
                       lambda: _probe_helper(t, hid, name))


def _probe_helper(t: ProgType, hid: int, name: str) -> Feature:
    if t in (ProgType.TRACING, ProgType.EXT, ProgType.LSM, ProgType.STRUCT_OPS):
        return _libbpf_answer(name, lib.libbpf_probe_bpf_helper(int(t), hid, None),
                              "libbpf's probe accepted it", "libbpf's probe rejected it")
    insns = (RECORDS["bpf_insn"] * 2)()
    insns[0].code = 0x85   # call
    insns[0].imm = hid
    insns[1].code = 0x95   # exit
    log = ctypes.create_string_buffer(1 << 16)
    o = opts("bpf_prog_load_opts", log_buf=ctypes.cast(log, ctypes.c_char_p),
             log_size=len(log), log_level=1,
             expected_attach_type=int(_PROBE_ATTACH.get(t, 0)),
             prog_flags=_BPF_F_SLEEPABLE if t == ProgType.SYSCALL else 0,
             kern_version=_kernel_version_code() if t == ProgType.KPROBE else 0)
    fd = lib.bpf_prog_load(int(t), b"probe", b"GPL", insns, 2, ctypes.byref(o))
    if fd >= 0:
        os.close(fd)
        return Feature(name, True, "the verifier accepted a call to it")
    text = log.value.decode(errors="replace")
    for line in text.splitlines():
        if any(words in line for words in _HELPER_REFUSED):
            return Feature(name, False, f"the verifier refused it: {line.strip()}")
    meaningful = [ln.strip() for ln in text.splitlines() if ln.strip()
                  and not ln.startswith(("processed ", "verification time"))]
    last = meaningful[-1] if meaningful else os.strerror(-fd)
    return Feature(name, True, "the verifier knows it for this program type (it "
                   f"rejected only the probe's arguments: {last})")


def kernel_version(release: str | None = None, version: str | None = None,
                   libbpf: str | None = None) -> tuple[int, int, int] | None:
    """The running kernel's version as libbpf computes it for ``kern_version`` and
    ``LINUX_KERNEL_VERSION``.

    In libbpf's order: Ubuntu's ``/proc/version_signature`` (third field); since
    libbpf 1.2 the ``Debian X.Y.Z`` in ``uname -v`` (Debian's stable kernels keep
    ``6.1.0`` in their release); else ``uname -r`` read like ``sscanf("%u.%u.%u")``,
    leading digits of each part, so ``6.12.95+deb12-amd64`` is 6.12.95.  A release with
    fewer than three numbers (``6.18-rc1``) gives None (libbpf then uses 0).
    ``release``, ``version`` (``uname -v``) and ``libbpf`` (``"1.7"``) default to this
    machine's; given a ``release``, Ubuntu's file is not read.
    """
    import re
    uts = os.uname()
    if release is None:
        try:
            with open("/proc/version_signature") as f:  # "Ubuntu 5.4.0-12.15-generic 5.4.8"
                fields = f.read().split()
            found = re.match(r"(\d+)\.(\d+)\.(\d+)", fields[2]) if len(fields) > 2 else None
            if found:
                return (int(found[1]), int(found[2]), int(found[3]))
        except OSError:
            pass
    lib_ver = tuple(int(x) for x in (libbpf or libbpf_version_str).split(".")[:2])
    if lib_ver >= (1, 2):
        found = re.search(r"Debian (\d+)\.(\d+)\.(\d+)",
                          uts.version if version is None else version)
        if found:
            return (int(found[1]), int(found[2]), int(found[3]))
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", uts.release if release is None else release)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def _kernel_version_code() -> int:
    v = kernel_version()
    if v is None:
        return 0
    return (v[0] << 16) + (v[1] << 8) + min(v[2], 255)


@functools.cache
def kprobes() -> Feature:
    """Whether kprobes can be attached (CONFIG_KPROBES with the kprobe PMU or
    tracefs kprobe_events)."""
    pmu = "/sys/bus/event_source/devices/kprobe"
    if os.path.exists(pmu):
        return Feature("kprobe", True, f"{pmu} exists")
    base = fs.tracefs_path()
    if base and os.path.exists(os.path.join(base, "kprobe_events")):
        return Feature("kprobe", True, f"{base}/kprobe_events exists")
    where = f"no {base}/kprobe_events" if base else f"tracefs {fs.tracefs_problem()}"
    return Feature("kprobe", False, f"kernel built without CONFIG_KPROBES: no {pmu} and "
                   f"{where}")


@functools.cache
def kprobe_multi() -> Feature:
    """Whether kprobe_multi links (fprobe: many functions in one link) attach:
    Linux >= 5.18 built with CONFIG_FPROBE (Debian's 6.1 is not).  Tried for real: a
    trivial program attached to ``bpf_fentry_test1`` and detached at once."""
    name = "kprobe_multi"
    denied = _no_privileges(name)
    if denied is not None:  # a Feature, falsy by design
        return denied
    insns = (RECORDS["bpf_insn"] * 2)()
    insns[0].code = 0xB7   # r0 = 0
    insns[1].code = 0x95   # exit
    o = opts("bpf_prog_load_opts", expected_attach_type=int(AttachType.TRACE_KPROBE_MULTI))
    fd = lib.bpf_prog_load(int(ProgType.KPROBE), b"probe", b"GPL", insns, 2, ctypes.byref(o))
    if fd < 0:
        return Feature(name, False, "the kernel refuses kprobe_multi programs: "
                       f"{os.strerror(-fd)} [errno {-fd}]")
    try:
        syms = (ctypes.c_char_p * 1)(b"bpf_fentry_test1")
        lo = opts("bpf_link_create_opts")
        lo.kprobe_multi.syms = ctypes.cast(syms, ctypes.POINTER(ctypes.c_char_p))
        lo.kprobe_multi.cnt = 1
        link = lib.bpf_link_create(fd, 0, int(AttachType.TRACE_KPROBE_MULTI), ctypes.byref(lo))
    finally:
        os.close(fd)
    if link >= 0:
        os.close(link)
        return Feature(name, True, "a kprobe_multi link on bpf_fentry_test1 attached")
    err = -link
    if err == errno.EOPNOTSUPP:
        return Feature(name, False, "kernel built without CONFIG_FPROBE: creating a "
                       "kprobe_multi link failed with EOPNOTSUPP")
    return Feature(name, False, "creating a kprobe_multi link on bpf_fentry_test1 failed: "
                   f"{os.strerror(err)} [errno {err}]")


@functools.cache
def uprobes() -> Feature:
    """Whether uprobes can be attached (the uprobe PMU)."""
    pmu = "/sys/bus/event_source/devices/uprobe"
    if os.path.exists(pmu):
        return Feature("uprobe", True, f"{pmu} exists")
    return Feature("uprobe", False, f"kernel built without CONFIG_UPROBE_EVENTS: no {pmu}")


def kernel_btf_id(name: str, kind: int | None = None) -> int:
    """The id of type ``name`` of BTF kind ``kind`` (default: a function) in the
    running kernel's BTF, or -1 when it has none (or no BTF)."""
    kind = _BTF_FUNC if kind is None else int(kind)
    key = f"kernel_btf_id {kind} {name}"
    hit = _store.get(key)
    if hit is not None:
        return int(hit[0])
    btf = lib.btf__load_vmlinux_btf()
    if not btf:
        return -1
    try:
        found = max(int(lib.btf__find_by_name_kind(btf, name.encode(), kind)), -1)
    finally:
        lib.btf__free(btf)
    _store.put(key, str(found), "")
    return found


_BTF_FUNC = 12      # BTF_KIND_FUNC (btf.Kind.FUNC, without importing the btf module)
_BTF_TYPEDEF = 8    # BTF_KIND_TYPEDEF


def _load_trivial(ptype: ProgType, attach: AttachType | int = 0, btf_id: int = 0) -> int:
    """Load ``r0 = 0; exit`` as a ``ptype`` program: its fd, or -errno."""
    insn_t = RECORDS["bpf_insn"]
    insns = (insn_t * 2)()
    insns[0].code = 0xB7   # r0 = 0
    insns[1].code = 0x95   # exit
    o = opts("bpf_prog_load_opts", expected_attach_type=int(attach), attach_btf_id=btf_id)
    return int(lib.bpf_prog_load(int(ptype), b"probe", b"GPL", insns, 2, ctypes.byref(o)))


def _load_tracing(kind: str, ptype: ProgType, attach: AttachType, target: str,
                  btf_kind: int | None = None) -> Feature:
    denied = _no_privileges(kind)
    if denied is not None:  # a Feature, falsy by design
        return denied
    return _remembered(kind, kind, lambda: _try_tracing(kind, ptype, attach, target,
                                                        btf_kind))


def _try_tracing(kind: str, ptype: ProgType, attach: AttachType, target: str,
                 btf_kind: int | None) -> Feature:
    btf_id = kernel_btf_id(target, btf_kind)
    if btf_id < 0:
        return Feature(kind, False, f"no kernel BTF function {target!r} to attach to "
                       "(/sys/kernel/btf/vmlinux missing or without it)")
    fd = _load_trivial(ptype, attach, btf_id)
    if fd >= 0:
        os.close(fd)
        return Feature(kind, True, f"{a_or_an(kind)} program on {target} loaded")
    err = -fd
    if err == errno.EPERM:
        return Feature(kind, False, f"the kernel refuses {kind} programs: loading one on "
                       f"{target} failed with EPERM despite BPF privileges")
    return Feature(kind, False, f"loading {a_or_an(kind)} program on {target} failed: "
                   f"{os.strerror(err)} [errno {err}]")


@functools.cache
def fentry() -> Feature:
    """Whether fentry/fexit (BPF trampoline) programs load on this kernel."""
    return _load_tracing("fentry", ProgType.TRACING, AttachType.TRACE_FENTRY,
                         "bpf_fentry_test1")


_SYSCALL_FUNC = r"^(?:__(?:x64|ia32|arm64|s390x|riscv|se|do)_)?sys_(\w+)$"


def kprobe_alternative(func: str | None, *, retprobe: bool = False) -> str:
    """What to attach instead of a kprobe on kernel function ``func`` here, naming
    only ways this kernel allows: for a system call its ``syscalls`` tracepoint (or the
    raw ``sys_enter``/``sys_exit`` tracepoint), and fentry/fexit where the kernel
    loads them and has ``func`` in its BTF."""
    import re
    options = []
    syscall = re.match(_SYSCALL_FUNC, func or "")
    if syscall:
        tp = f"sys_{'exit' if retprobe else 'enter'}_{syscall[1]}"
        if fs.tracefs_path() and fs.tracepoint_exists("syscalls", tp):
            options.append(f"the tracepoint syscalls:{tp} (SEC(\"tracepoint/syscalls/{tp}\") "
                           f"or attach_tracepoint(\"syscalls\", \"{tp}\"))")
        elif prog_type(ProgType.RAW_TRACEPOINT):
            raw = "sys_exit" if retprobe else "sys_enter"
            options.append(f"the raw tracepoint {raw} (SEC(\"raw_tp/{raw}\")), filtering "
                           f"on the {syscall[1]} system call's number")
    if func:
        target = syscall_symbol(syscall[1]) if syscall else func
        kind = "fexit" if retprobe else "fentry"
        if fentry() and kernel_btf_id(target) >= 0:
            options.append(f"{kind} on {target} (SEC(\"{kind}/{target}\"))")
    if not options:
        return ("this kernel offers no tracepoint for it and refuses fentry "
                f"({fentry().reason})")
    return "use " + ", or ".join(options) + " instead"


def syscall_symbol(name: str) -> str:
    """The kernel function of system call ``name`` on this architecture
    (``__x64_sys_getppid`` on x86_64), as fentry/fmod_ret programs name it."""
    prefix = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "s390x": "__s390x_sys_",
              "riscv64": "__riscv_sys_"}.get(os.uname().machine, "sys_")
    return prefix + name


@functools.cache
def fmod_ret(target: str | None = None) -> Feature:
    """Whether fmod_ret programs (BPF trampolines that replace a function's return
    value) load on ``target``, default ``security_task_getsid``: the kernel allows
    them on its ``security_*`` hooks and, with CONFIG_FUNCTION_ERROR_INJECTION
    (Debian's kernels have none), on functions of the error-injection list such as
    system calls.  Requires Linux >= 5.7."""
    return _load_tracing("fmod_ret", ProgType.TRACING, AttachType.MODIFY_RETURN,
                         target or "security_task_getsid")


@functools.cache
def iterators() -> Feature:
    """Whether BPF iterator programs load at all (Linux >= 5.8), tried on the
    ``task`` target; a kernel may still refuse other targets: see :func:`iterator`."""
    f = iterator("task")
    return Feature("iter", f.supported, f.reason)


@functools.cache
def iterator(target: str) -> Feature:
    """Whether iterator programs for ``target`` (``SEC("iter/<target>")``: ``task``,
    ``bpf_map_elem``, ``tcp`` ...) load on this kernel.  Requires Linux >= 5.8; each
    target has its own minimum, and a kernel may refuse some targets and allow
    others (one of ours allows ``task`` and refuses ``bpf_map_elem`` with EPERM)."""
    return _load_tracing(f"iter/{target}", ProgType.TRACING, AttachType.TRACE_ITER,
                         f"bpf_iter_{target}")


def iterator_targets() -> list[str]:
    """Every iterator target the running kernel's BTF declares (a ``bpf_iter_<t>``
    function with its ``struct bpf_iter__<t>`` context), sorted."""
    from .btf import BTF, Kind
    try:
        btf = BTF.vmlinux()
    except OSError:
        return []
    with btf:
        funcs = {t.name.removeprefix("bpf_iter_") for t in btf.types(Kind.FUNC)
                 if t.name.startswith("bpf_iter_")}
        contexts = {t.name.removeprefix("bpf_iter__") for t in btf.types(Kind.STRUCT)
                    if t.name.startswith("bpf_iter__")}
    return sorted(funcs & contexts)


@functools.cache
def tp_btf() -> Feature:
    """Whether BTF-enabled raw tracepoint (tp_btf) programs load (Linux >= 5.5)."""
    return _load_tracing("tp_btf", ProgType.TRACING, AttachType.TRACE_RAW_TP,
                         "btf_trace_sched_switch", _BTF_TYPEDEF)


@functools.cache
def lsm() -> Feature:
    """Whether BPF LSM programs load (CONFIG_BPF_LSM and ``bpf`` in lsm=)."""
    return _load_tracing("lsm", ProgType.LSM, AttachType.LSM_MAC, "bpf_lsm_file_open")


def tracefs() -> Feature:
    """Whether tracefs is mounted where libbpf looks (not cached: setup mounts it)."""
    path = fs.tracefs_path()
    if path:
        return Feature("tracefs", True, f"mounted at {path}")
    problem = fs.tracefs_problem()
    if "not mounted" in problem:
        return Feature("tracefs", False, f"not mounted (mount -t tracefs tracefs "
                       f"{fs.TRACEFS})")
    return Feature("tracefs", False, problem.removeprefix("is "))


def tracepoint(category: str, name: str) -> Feature:
    """Whether the kernel has the tracepoint ``category:name`` (tracefs lists it)."""
    what = f"tracepoint {category}:{name}"
    path = fs.tracefs_path()
    if path is None:
        return Feature(what, False, "tracefs is not mounted")
    if fs.tracepoint_exists(category, name):
        return Feature(what, True, f"listed in {path}/events")
    return Feature(what, False, f"not in {path}/events (kernel too old or built without it)")


def bpffs() -> Feature:
    """Whether a BPF filesystem is mounted at /sys/fs/bpf (not cached)."""
    if fs.is_mounted(fs.BPFFS, fs._BPF_FS_MAGIC):
        return Feature("bpffs", True, f"mounted at {fs.BPFFS}")
    return Feature("bpffs", False, f"not mounted (mount -t bpf bpf {fs.BPFFS})")


def privileges() -> Feature:
    """Whether this process has the capabilities BPF tracing needs."""
    if has_bpf_privileges():
        return Feature("privileges", True, "CAP_SYS_ADMIN or CAP_BPF+CAP_PERFMON")
    return Feature("privileges", False, "neither CAP_SYS_ADMIN nor CAP_BPF+CAP_PERFMON")


def attach_kinds() -> list[Feature]:
    """How programs can be attached here: one Feature per attach kind."""
    def via(kind: str, ptype: ProgType, extra: Feature | None = None) -> Feature:
        base = prog_type(ptype)
        if not base:
            return Feature(kind, False, base.reason)
        if extra is not None and not extra:
            return Feature(kind, False, extra.reason)
        return Feature(kind, True, extra.reason if extra is not None else base.reason)

    return [
        via("tracepoint", ProgType.TRACEPOINT, tracefs()),
        via("raw_tracepoint", ProgType.RAW_TRACEPOINT),
        via("kprobe", ProgType.KPROBE, kprobes()),
        kprobe_multi(),
        via("uprobe", ProgType.KPROBE, uprobes()),
        fentry(),
        fmod_ret(),
        lsm(),
        via("perf_event", ProgType.PERF_EVENT),
        via("xdp", ProgType.XDP),
        via("tc", ProgType.SCHED_CLS),
        via("cgroup", ProgType.CGROUP_SKB),
        iterators(),
        tp_btf(),
        via("syscall", ProgType.SYSCALL),
        *link_kinds(),
    ]


# -- what libbpf >= 1.2 added ---------------------------------------------------------
# Each probe asks the loaded libbpf first (an older one cannot use the feature, whatever
# the kernel), then the kernel, with a call whose errno tells "known" from "unknown"
# without attaching anything to this machine.

def _needs_libbpf(name: str, function: str) -> Feature | None:
    """A falsy Feature when the loaded libbpf lacks ``function``."""
    from ._raw import _since, is_available
    if is_available(function):
        return None
    return Feature(name, False, f"libbpf {libbpf_version_str} has no {function}() "
                   f"(needs libbpf >= {_since(function)})")


def _first_failure(name: str, *checks: Feature | None) -> Feature | None:
    for check in checks:
        if check is not None:
            return check
    return None


def _link_create_errno(ptype: ProgType, attach: AttachType, target_fd: int,
                       **link_opts: object) -> int | Feature:
    """Load a trivial ``ptype`` program and create a link of kind ``attach`` to
    ``target_fd`` with ``link_opts``: 0 when a link was made (and closed at once),
    else the errno; a falsy Feature if the program type itself does not load."""
    prog = _load_trivial(ptype, attach)
    if prog < 0:
        return Feature(attach.name.lower(), False, f"a {ptype.libbpf_name} program with "
                       f"expected attach type {attach.libbpf_name} does not load: "
                       f"{os.strerror(-prog)}")
    try:
        o = opts("bpf_link_create_opts", **link_opts)
        link = int(lib.bpf_link_create(prog, target_fd, int(attach), ctypes.byref(o)))
        if link >= 0:
            os.close(link)
            return 0
        return -link
    finally:
        os.close(prog)


def _answer(name: str, err: int | Feature, yes: dict[int, str], no: str) -> Feature:
    if isinstance(err, Feature):
        return Feature(name, False, err.reason)
    if err in yes:
        return Feature(name, True, yes[err])
    return Feature(name, False, f"{no}: {os.strerror(err) if err else 'no error'}")


def _link_kind(name: str, attach_fn: str, ptype: ProgType, attach: AttachType,
               yes_err: int, yes: str, no: str, **link_opts: object) -> Feature:
    """Whether the kernel knows a kind of link: a link of it created with arguments
    that cannot attach anything is refused with ``yes_err`` only by a kernel that
    knows the kind (older ones say EINVAL)."""
    off = _first_failure(name, _needs_libbpf(name, attach_fn), _no_privileges(name))
    if off is not None:
        return off
    err = _link_create_errno(ptype, attach, 0, **link_opts)
    return _answer(name, err, {yes_err: yes}, no)


@functools.cache
def tcx() -> Feature:
    """Whether tcx links attach here (Linux >= 6.6, libbpf >= 1.3)."""
    return _link_kind("tcx", "bpf_program__attach_tcx", ProgType.SCHED_CLS,
                      AttachType.TCX_INGRESS, errno.ENODEV,
                      "the kernel knows tcx links (a link to ifindex 0 failed with ENODEV)",
                      "the kernel does not know tcx links (Linux >= 6.6)")


@functools.cache
def netkit() -> Feature:
    """Whether netkit links attach here (Linux >= 6.7 with CONFIG_NETKIT, libbpf >= 1.3)."""
    return _link_kind("netkit", "bpf_program__attach_netkit", ProgType.SCHED_CLS,
                      AttachType.NETKIT_PRIMARY, errno.ENODEV,
                      "the kernel knows netkit links (a link to ifindex 0 failed with "
                      "ENODEV)",
                      "the kernel has no netkit devices (Linux >= 6.7 with CONFIG_NETKIT)")


_NFPROTO_IPV4 = 2


@functools.cache
def netfilter() -> Feature:
    """Whether netfilter programs attach here (Linux >= 6.4, libbpf >= 1.3)."""
    # hook 99 does not exist: a kernel with netfilter links says EPROTO.
    return _link_kind("netfilter", "bpf_program__attach_netfilter", ProgType.NETFILTER,
                      AttachType.NETFILTER, errno.EPROTO,
                      "the kernel knows netfilter links (an invalid hook was refused with "
                      "EPROTO)",
                      "the kernel does not attach netfilter programs (Linux >= 6.4 with "
                      "CONFIG_NETFILTER_BPF_LINK)",
                      netfilter={"pf": _NFPROTO_IPV4, "hooknum": 99})


@functools.cache
def uprobe_multi() -> Feature:
    """Whether uprobe_multi links attach here (Linux >= 6.6, libbpf >= 1.3)."""
    # "/" is no regular file: a kernel with uprobe_multi says EBADF.
    offsets = (ctypes.c_ulong * 1)(0)
    return _link_kind("uprobe_multi", "bpf_program__attach_uprobe_multi", ProgType.KPROBE,
                      AttachType.TRACE_UPROBE_MULTI, errno.EBADF,
                      "the kernel knows uprobe_multi links (a directory was refused with "
                      "EBADF)",
                      "the kernel does not know uprobe_multi links (Linux >= 6.6 with "
                      "CONFIG_UPROBES)",
                      uprobe_multi={"path": b"/", "offsets": offsets, "cnt": 1})


@functools.cache
def sockmap_link() -> Feature:
    """Whether sk_skb/sk_msg programs attach to a sockmap with a link (Linux >= 6.10,
    libbpf >= 1.5)."""
    name = "sockmap"
    off = _first_failure(name, _needs_libbpf(name, "bpf_program__attach_sockmap"),
                         _no_privileges(name))
    if off is not None:
        return off
    o = opts("bpf_map_create_opts")
    smap = int(lib.bpf_map_create(int(MapType.SOCKMAP), b"probe", 4, 4, 1, ctypes.byref(o)))
    if smap < 0:
        return Feature(name, False, f"no sockmap maps: {os.strerror(-smap)}")
    try:
        err = _link_create_errno(ProgType.SK_SKB, AttachType.SK_SKB_VERDICT, smap)
    finally:
        os.close(smap)
    return _answer(name, err, {0: "a verdict program was linked to a sockmap"},
                   "the kernel has no sockmap links (Linux >= 6.10)")


@functools.cache
def raw_tracepoint_cookie() -> Feature:
    """Whether raw tracepoint links take a BPF cookie (Linux >= 6.10, libbpf >= 1.4)."""
    name = "raw_tracepoint cookie"
    off = _first_failure(name, _needs_libbpf(name, "bpf_raw_tracepoint_open_opts"),
                         _no_privileges(name))
    if off is not None:
        return off
    prog = _load_trivial(ProgType.RAW_TRACEPOINT)
    if prog < 0:
        return Feature(name, False, f"raw_tracepoint programs do not load: "
                       f"{os.strerror(-prog)}")
    try:
        # No such tracepoint: a kernel taking cookies looks for it (ENOENT); an older
        # one refuses the attribute it does not know first (EINVAL).
        o = opts("bpf_raw_tp_opts", tp_name=b"libbpfpy_no_such_tracepoint", cookie=1)
        fd = int(lib.bpf_raw_tracepoint_open_opts(prog, ctypes.byref(o)))
    finally:
        os.close(prog)
    if fd >= 0:
        os.close(fd)
        fd = 0
    return _answer(name, -fd, {errno.ENOENT: "the kernel read the cookie and looked for "
                               "the tracepoint"},
                   "the kernel takes no cookie for raw tracepoints (Linux >= 6.10)")


@functools.cache
def token() -> Feature:
    """Whether BPF tokens can be made here: the kernel's BPF_TOKEN_CREATE and bpffs
    delegation (Linux >= 6.9) and libbpf >= 1.4.  A token is made from a bpffs
    mounted with ``delegate_*`` options inside a user namespace."""
    name = "token"
    off = _first_failure(name, _needs_libbpf(name, "bpf_token_create"),
                         _no_privileges(name))
    if off is not None:
        return off
    if not fs.is_mounted(fs.BPFFS, fs._BPF_FS_MAGIC):
        return Feature(name, False, f"no bpffs at {fs.BPFFS} to ask the kernel with")
    fd = os.open(fs.BPFFS, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # From the initial user namespace a kernel with tokens answers EOPNOTSUPP
        # ("a token there makes no sense"); one without BPF_TOKEN_CREATE, EINVAL.
        o = opts("bpf_token_create_opts")
        ret = int(lib.bpf_token_create(fd, ctypes.byref(o)))
    finally:
        os.close(fd)
    if ret >= 0:
        os.close(ret)
        return Feature(name, True, "a token was created")
    return _answer(name, -ret, {errno.EOPNOTSUPP: "the kernel knows BPF_TOKEN_CREATE and "
                                "bpffs delegation (refused in the initial user namespace, "
                                "as it should)"},
                   "the kernel has no BPF tokens (Linux >= 6.9)")


_CLONE_NEWUSER, _CLONE_NEWNS = 0x10000000, 0x00020000


@functools.cache
def user_namespaces() -> Feature:
    """Whether this process can make a user namespace with its own mount namespace,
    as the users of a BPF token do (a child process tries ``unshare``)."""
    from ._raw import libc
    pid = os.fork()
    if pid == 0:  # the child only calls unshare and exits
        code = 255
        try:
            code = 0 if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS) == 0 else \
                (ctypes.get_errno() or 254)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    err = os.waitstatus_to_exitcode(status)
    name = "user namespaces"
    if err == 0:
        return Feature(name, True, "a child made a user and a mount namespace")
    why = " (a chrooted process may not, nor any where user.max_user_namespaces is 0)" \
        if err == errno.EPERM else ""
    return Feature(name, False, f"unshare(CLONE_NEWUSER|CLONE_NEWNS) failed: "
                   f"{os.strerror(err) if err < 254 else 'child error'}{why}")


@functools.cache
def streams() -> Feature:
    """Whether BPF programs can write to their stdout/stderr streams and user space
    read them (Linux >= 6.17, libbpf >= 1.6): an XDP program prints a line with the
    stream kfunc, run once, and the line is read back."""
    name = "streams"
    off = _first_failure(name, _needs_libbpf(name, "bpf_prog_stream_read"),
                         _no_privileges(name))
    if off is not None:
        return off
    # bpf_stream_vprintk(stream, fmt, args, len) in 6.17 and 7.x; 6.18 has only
    # bpf_stream_vprintk_impl(..., aux) with aux passed as NULL for the verifier to fill.
    kfuncs = [(f, i) for f in ("bpf_stream_vprintk", "bpf_stream_vprintk_impl")
              if (i := kernel_btf_id(f)) > 0]
    if not kfuncs:
        return Feature(name, False, "no bpf_stream_vprintk kfunc in the kernel's BTF "
                       "(Linux >= 6.17)")
    kfunc = kfuncs[0]
    text = b"probe %d\n\0"
    o = opts("bpf_map_create_opts", map_flags=CONSTANTS["BPF_F_RDONLY_PROG"])
    fmt_map = int(lib.bpf_map_create(int(MapType.ARRAY), b"probe_fmt", 4, 16, 1,
                                     ctypes.byref(o)))
    if fmt_map < 0:
        return Feature(name, False, f"no array map for the format: {os.strerror(-fmt_map)}")
    prog = -1
    try:
        key, value = ctypes.c_uint32(0), ctypes.create_string_buffer(text, 16)
        if lib.bpf_map_update_elem(fmt_map, ctypes.byref(key), value, 0) < 0 or \
                lib.bpf_map_freeze(fmt_map) < 0:
            return Feature(name, False, "could not set up a read-only format map")
        insn_t = RECORDS["bpf_insn"]
        code = [  # (code, dst, src, off, imm)
            (0xB7, 6, 0, 0, 7), (0x7B, 10, 6, -8, 0),        # *(u64 *)(r10 - 8) = 7
            (0xB7, 1, 0, 0, 1),                              # r1 = BPF_STDOUT
            (0x18, 2, 2, 0, fmt_map), (0x00, 0, 0, 0, 0),    # r2 = &format
            (0xBF, 3, 10, 0, 0), (0x07, 3, 0, 0, -8),        # r3 = r10 - 8 (the args)
            (0xB7, 4, 0, 0, 8), (0xB7, 5, 0, 0, 0),          # r4 = 8, r5 = NULL (aux)
            (0x85, 0, 2, 0, kfunc[1]),                       # call the kfunc
            (0x95, 0, 0, 0, 0),                              # return its result
        ]
        insns = (insn_t * len(code))()
        for i, (c, dst, src, o_, imm) in enumerate(code):
            insns[i].code, insns[i].dst_reg, insns[i].src_reg = c, dst, src
            insns[i].off, insns[i].imm = o_, imm
        lo = opts("bpf_prog_load_opts")
        prog = int(lib.bpf_prog_load(int(ProgType.XDP), b"probe", b"GPL", insns,
                                     len(code), ctypes.byref(lo)))
        if prog < 0:
            return Feature(name, False, f"a program calling {kfunc[0]}() does not load: "
                           f"{os.strerror(-prog)}")
        packet = ctypes.create_string_buffer(64)
        ro = opts("bpf_test_run_opts", data_in=ctypes.addressof(packet), data_size_in=64)
        if lib.bpf_prog_test_run_opts(prog, ctypes.byref(ro)) < 0:
            return Feature(name, False, "the probe program could not be run")
        written = ctypes.c_int32(ro.retval).value
        if written < 0:
            return Feature(name, False, f"the kernel knows streams, but {kfunc[0]}() "
                           f"failed here: {os.strerror(-written)} [errno {-written}]")
        buf = ctypes.create_string_buffer(64)
        so = opts("bpf_prog_stream_read_opts")
        got = int(lib.bpf_prog_stream_read(prog, CONSTANTS["BPF_STREAM_STDOUT"], buf,
                                           len(buf), ctypes.byref(so)))
        if got < 0 or buf.raw[:got] != b"probe 7\n":
            return Feature(name, False, f"reading the stream back failed (got "
                           f"{buf.raw[:max(got, 0)]!r}, {got})")
        return Feature(name, True, f"a program wrote a line with {kfunc[0]}() and it was "
                       "read back")
    finally:
        if prog >= 0:
            os.close(prog)
        os.close(fmt_map)


@functools.cache
def exclusive_maps() -> Feature:
    """Whether maps can be made exclusive to one program (Linux >= 6.18, libbpf >= 1.7)."""
    name = "exclusive maps"
    off = _first_failure(name, _needs_libbpf(name, "bpf_map__set_exclusive_program"),
                         _no_privileges(name))
    if off is not None:
        return off
    digest = ctypes.create_string_buffer(32)  # a SHA-256 no program has: nothing can use it
    o = opts("bpf_map_create_opts", excl_prog_hash=ctypes.addressof(digest),
             excl_prog_hash_size=32)
    fd = int(lib.bpf_map_create(int(MapType.ARRAY), b"probe", 4, 4, 1, ctypes.byref(o)))
    if fd >= 0:
        os.close(fd)
        return Feature(name, True, "an array map exclusive to a program hash was created")
    return _answer(name, -fd, {}, "the kernel makes no exclusive maps (Linux >= 6.18)")


@functools.cache
def struct_ops_association() -> Feature:
    """Whether programs can be associated with a struct_ops map
    (``BPF_PROG_ASSOC_STRUCT_OPS``: Linux >= 6.19, libbpf >= 1.7)."""
    name = "struct_ops association"
    off = _first_failure(name, _needs_libbpf(name, "bpf_prog_assoc_struct_ops"),
                         _no_privileges(name))
    if off is not None:
        return off
    # Bad fds: a kernel with the command looks them up (EBADF); one without, EINVAL.
    o = opts("bpf_prog_assoc_struct_ops_opts")
    ret = int(lib.bpf_prog_assoc_struct_ops(-1, -1, ctypes.byref(o)))
    return _answer(name, -ret, {errno.EBADF: "the kernel knows BPF_PROG_ASSOC_STRUCT_OPS "
                                "(bad fds were refused with EBADF)"},
                   "the kernel cannot associate programs with struct_ops maps "
                   "(Linux >= 6.19)")


def link_kinds() -> list[Feature]:
    """The link kinds libbpf >= 1.2 added, one Feature each (libbpf and kernel)."""
    return [tcx(), netkit(), netfilter(), uprobe_multi(), sockmap_link(),
            raw_tracepoint_cookie()]


def bpf_features() -> list[Feature]:
    """Newer BPF facilities: tokens (delegation, which needs user namespaces),
    program streams, exclusive maps, struct_ops association."""
    return [token(), user_namespaces(), streams(), exclusive_maps(),
            struct_ops_association()]


def clear_cache() -> None:
    """Forget cached probe results (this process's and those kept for the boot)."""
    for fn in (prog_type, map_type, helper, kprobes, kprobe_multi, uprobes, fentry,
               fmod_ret, lsm, iterators, iterator, tp_btf, tcx, netkit, netfilter,
               uprobe_multi, sockmap_link, raw_tracepoint_cookie, token, streams,
               exclusive_maps, struct_ops_association, user_namespaces):
        fn.cache_clear()
    _store.clear()
