"""Opening perf events for BPF programs to attach to (``perf_event_open(2)``).

    for cpu in online_cpus():
        fd = open_sampling_event(cpu=cpu, freq=99)     # a software CPU clock
        links.append(prog.attach_perf_event(fd))       # the link keeps a duplicate
        os.close(fd)

Sampling events drive ``SEC("perf_event")`` programs (profilers).  The software
CPU clock works everywhere, virtual machines included; hardware events
(``type=PERF_TYPE_HARDWARE``) need a PMU.  Requires CAP_PERFMON (or root), or a
permissive ``kernel.perf_event_paranoid``.
"""
from __future__ import annotations

import ctypes
import os
import platform

from .errors import error_for

__all__ = ["open_sampling_event", "online_cpus", "PERF_TYPE_HARDWARE", "PERF_TYPE_SOFTWARE",
           "PERF_COUNT_HW_CPU_CYCLES", "PERF_COUNT_SW_CPU_CLOCK"]

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_HW_CPU_CYCLES = 0
PERF_COUNT_SW_CPU_CLOCK = 0
_PERF_FLAG_FD_CLOEXEC = 8
_SYSCALL = {"x86_64": 298, "aarch64": 241, "riscv64": 241, "ppc64le": 319, "s390x": 331,
            "i686": 336, "armv7l": 364, "loongarch64": 241}


def online_cpus() -> list[int]:
    """The CPUs online now (``/sys/devices/system/cpu/online``: ``0-3,6``)."""
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def open_sampling_event(*, cpu: int = -1, pid: int = -1, freq: int | None = 99,
                        period: int | None = None, type: int = PERF_TYPE_SOFTWARE,
                        config: int = PERF_COUNT_SW_CPU_CLOCK) -> int:
    """Open a sampling perf event and return its fd (the caller closes it).

    ``pid`` -1 with a ``cpu`` samples everything on that CPU; a ``pid`` with
    ``cpu`` -1 follows that process (0: this one) on every CPU.  It samples
    ``freq`` times a second, or every ``period`` events when given."""
    from ._raw import RECORDS
    nr = _SYSCALL.get(platform.machine())
    if nr is None:
        raise OSError(38, f"perf_event_open: unknown syscall number on {platform.machine()}")
    attr = RECORDS["perf_event_attr"]()
    attr.type = type
    attr.size = ctypes.sizeof(attr)
    attr.config = config
    if period is not None:
        attr.sample_period = period
    else:
        attr.sample_freq = freq or 99
        attr.freq = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(nr), ctypes.byref(attr), ctypes.c_int(pid),
                      ctypes.c_int(cpu), ctypes.c_int(-1),
                      ctypes.c_ulong(_PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        where = f"cpu {cpu}" if pid == -1 else f"pid {pid}"
        raise error_for(err, f"perf_event_open of a sampling event on {where} failed: "
                        f"{os.strerror(err)} [errno {err}]", call="perf_event_open")
    return int(fd)
