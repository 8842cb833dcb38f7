"""Feature probes: what this kernel and this libbpf can do.  Results are cached.

Each probe returns a :class:`Feature`: true or false, with ``reason`` saying what
was checked and what was found, so that a skipped test or a refused attach can
quote it.  Probes load tiny programs, so most need BPF privileges; without them a
probe answers false with a reason that says so.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
from dataclasses import dataclass

from . import fs
from ._caps import has_bpf_privileges
from ._raw import ENUMS, RECORDS, lib, opts
from ._raw import version as libbpf_version_str
from .enums import AttachType, MapType, ProgType, parse_enum

__all__ = ["Feature", "prog_type", "for_program", "kernel_btf_id", "map_type", "helper", "kprobes",
           "uprobes", "fentry", "lsm", "iterators", "tp_btf", "tracefs", "bpffs",
           "privileges", "libbpf_version", "attach_kinds", "clear_cache"]


@dataclass(frozen=True)
class Feature:
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
    return _libbpf_answer(name, lib.libbpf_probe_bpf_prog_type(int(t), None),
                          f"a trivial {t.libbpf_name} program loaded",
                          f"the kernel refuses {t.libbpf_name} programs")


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
    return _libbpf_answer(name, lib.libbpf_probe_bpf_map_type(int(t), None),
                          f"a {t.libbpf_name} map was created",
                          f"the kernel refuses {t.libbpf_name} maps")


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
    where = f"no {base}/kprobe_events" if base else f"tracefs {fs.tracefs_problem()}"
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
    from .btf import Kind  # only here: btf is a large module
    btf = lib.btf__load_vmlinux_btf()
    if not btf:
        return -1
    try:
        found = lib.btf__find_by_name_kind(btf, name.encode(),
                                           int(Kind.FUNC if kind is None else kind))
        return max(int(found), -1)
    finally:
        lib.btf__free(btf)


def _load_tracing(kind: str, ptype: ProgType, attach: AttachType, target: str,
                  btf_kind: int | None = None) -> Feature:
    denied = _no_privileges(kind)
    if denied is not None:  # a Feature, falsy by design
        return denied
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
    from .btf import Kind
    return _load_tracing("tp_btf", ProgType.TRACING, AttachType.TRACE_RAW_TP,
                         "btf_trace_sched_switch", Kind.TYPEDEF)


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
    """Forget cached probe results."""
    for fn in (prog_type, map_type, helper, kprobes, uprobes, fentry, lsm, iterators,
               tp_btf):
        fn.cache_clear()
