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
from ._raw import ENUMS, RECORDS, lib, library_path, opts
from ._raw import version as libbpf_version_str
from .enums import AttachType, MapType, ProgType, parse_enum

__all__ = ["Feature", "prog_type", "for_program", "kernel_btf_id", "map_type", "helper", "kprobes",
           "uprobes", "fentry", "lsm", "iterators", "tp_btf", "tracefs", "bpffs",
           "privileges", "libbpf_version", "attach_kinds", "clear_cache"]


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
    return Feature(name, False, f"probe failed: {os.strerror(-ret)}")


# -- answers kept for the boot ------------------------------------------------------------

_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_STORE_HEADER = "libbpfpy-probes-1"


class _Store:
    """Probe answers of this boot on disk: ``key<TAB>value<TAB>reason`` lines after a
    header naming the format, the boot and the libbpf they were obtained with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str, str]] | None = None
        self._path: str | None = None
        self._header = ""

    def _load(self) -> dict[str, tuple[str, str]]:
        answers = self._answers
        if answers is not None:
            return answers
        answers = {}
        if os.environ.get("LIBBPFPY_PROBE_CACHE", "1") != "0" and _bpf_syscall_works():
            try:
                with open(_BOOT_ID) as f:
                    boot = f.read().strip()
                self._path = os.path.join(_cache.cache_dir(), "probes")
            except (OSError, ValueError):  # no boot id, or an untrusted cache dir
                boot = ""
            if boot and self._path:
                self._header = (f"{_STORE_HEADER}\nboot {boot}\nlibbpf "
                                f"{libbpf_version_str} {library_path}\n")
                raw = _cache.read_nofollow(self._path)
                text = raw.decode(errors="replace") if raw else ""
                if text.startswith(self._header):
                    for line in text[len(self._header):].splitlines():
                        parts = line.split("\t")
                        if len(parts) == 3:
                            answers[parts[0]] = (parts[1], parts[2])
            else:
                self._path = None
        self._answers = answers
        return answers

    def get(self, key: str) -> tuple[str, str] | None:
        with self._lock:
            return self._load().get(key)

    def put(self, key: str, value: str, reason: str) -> None:
        with self._lock:
            answers = self._load()
            answers[key] = (value, " ".join(reason.split()))
            if self._path is None:
                return
            body = "".join(f"{k}\t{v}\t{r}\n" for k, (v, r) in answers.items())
            try:
                _cache.atomic_write(self._path, (self._header + body).encode(), 0o600)
            except OSError:
                pass  # a read-only cache: answers stay for this process only

    def clear(self) -> None:
        with self._lock:
            if self._answers is not None and self._path is not None:
                _cache.unlink(self._path)
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


def for_program(ptype: ProgType | int | str, attach: AttachType | int | None = None
                ) -> Feature:
    """The probe that says whether a program of type ``ptype`` (with expected attach
    type ``attach``) can run here: tracing programs split by attach kind (iterators
    and tp_btf load where fentry/fexit may be refused), LSM and freplace (``ext``)
    by their own probes, everything else by :func:`prog_type`."""
    t = parse_enum(ProgType, ptype)
    if t == ProgType.TRACING and attach == AttachType.TRACE_ITER:
        return iterators()
    if t == ProgType.TRACING and attach == AttachType.TRACE_RAW_TP:
        return tp_btf()
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
        f"a {t.libbpf_name} map was created", f"the kernel refuses {t.libbpf_name} maps"))


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


def _kernel_version_code() -> int:
    parts = os.uname().release.split("-")[0].split(".")
    nums = [int(p) if p.isdigit() else 0 for p in (parts + ["0", "0"])[:3]]
    return (nums[0] << 16) + (nums[1] << 8) + min(nums[2], 255)


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
    where = f"no {base}/kprobe_events" if base else "tracefs not mounted"
    return Feature("kprobe", False, f"kernel built without CONFIG_KPROBES: no {pmu} and "
                   f"{where}")


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
    insn_t = RECORDS["bpf_insn"]
    insns = (insn_t * 2)()
    insns[0].code = 0xB7   # r0 = 0
    insns[1].code = 0x95   # exit
    o = opts("bpf_prog_load_opts", expected_attach_type=int(attach), attach_btf_id=btf_id)
    fd = lib.bpf_prog_load(int(ptype), b"probe", b"GPL", insns, 2, ctypes.byref(o))
    if fd >= 0:
        os.close(fd)
        return Feature(kind, True, f"a {kind} program on {target} loaded")
    err = -fd
    if err == errno.EPERM:
        return Feature(kind, False, f"the kernel refuses {kind} programs: loading one on "
                       f"{target} failed with EPERM despite BPF privileges")
    return Feature(kind, False, f"loading a {kind} program on {target} failed: "
                   f"{os.strerror(err)} [errno {err}]")


@functools.cache
def fentry() -> Feature:
    """Whether fentry/fexit (BPF trampoline) programs load on this kernel."""
    return _load_tracing("fentry", ProgType.TRACING, AttachType.TRACE_FENTRY,
                         "bpf_fentry_test1")


@functools.cache
def iterators() -> Feature:
    """Whether BPF iterator programs load (Linux >= 5.8)."""
    return _load_tracing("iter", ProgType.TRACING, AttachType.TRACE_ITER, "bpf_iter_task")


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
    return Feature("tracefs", False, f"not mounted (mount -t tracefs tracefs {fs.TRACEFS})")


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
        via("uprobe", ProgType.KPROBE, uprobes()),
        fentry(),
        lsm(),
        via("perf_event", ProgType.PERF_EVENT),
        via("xdp", ProgType.XDP),
        via("tc", ProgType.SCHED_CLS),
        via("cgroup", ProgType.CGROUP_SKB),
        iterators(),
        tp_btf(),
        via("syscall", ProgType.SYSCALL),
    ]


def clear_cache() -> None:
    """Forget cached probe results (this process's and those kept for the boot)."""
    for fn in (prog_type, map_type, helper, kprobes, uprobes, fentry, lsm, iterators,
               tp_btf):
        fn.cache_clear()
    _store.clear()
