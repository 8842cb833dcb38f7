"""Effective capabilities of this process, read from /proc (no libcap needed)."""
from __future__ import annotations

import functools

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


def effective_caps() -> int:
    """Return the effective capability mask of this process (0 if unreadable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def has_cap(cap: int) -> bool:
    """Whether capability number ``cap`` is in the effective set."""
    return bool(effective_caps() >> cap & 1)


@functools.lru_cache(maxsize=1)
def has_bpf_privileges() -> bool:
    """CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON: enough for tracing programs."""
    caps = effective_caps()
    return bool(caps >> CAP_SYS_ADMIN & 1) or (
        bool(caps >> CAP_BPF & 1) and bool(caps >> CAP_PERFMON & 1))
