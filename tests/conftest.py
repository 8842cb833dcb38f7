"""Shared fixtures: compiled BPF objects, privilege handling, leak checks."""
from __future__ import annotations

import gc
import os
import subprocess
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
BPF_SRC = ROOT / "tests" / "bpf"
REQUIRE_BPF = os.environ.get("LIBBPFPY_REQUIRE_BPF") == "1"


def _privileged() -> bool:
    from libbpfpy._caps import has_bpf_privileges
    return has_bpf_privileges()


def need(condition: bool, reason: str) -> None:
    """Skip unless ``condition``; under LIBBPFPY_REQUIRE_BPF=1 fail instead.

    For missing privileges or toolchain only; a missing *kernel feature* is a skip
    through a probe (see ``skip_unless``)."""
    if condition:
        return
    if REQUIRE_BPF:
        pytest.fail(f"LIBBPFPY_REQUIRE_BPF=1 but: {reason}")
    pytest.skip(reason)


def skip_unless(feature: object) -> None:
    """Skip when a probe says a kernel feature is missing, quoting the probe."""
    if not feature:
        pytest.skip(f"kernel feature missing: {feature}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    privileged = _privileged()
    for item in items:
        if "root" in item.keywords and not privileged:
            if REQUIRE_BPF:
                item.add_marker(pytest.mark.xfail(
                    reason="LIBBPFPY_REQUIRE_BPF=1 but not privileged", strict=True,
                    run=False))
            else:
                item.add_marker(pytest.mark.skip(reason="needs root (CAP_BPF/CAP_SYS_ADMIN)"))


@pytest.fixture(scope="session", autouse=True)
def _mounts() -> None:
    if _privileged():
        from libbpfpy import fs
        fs.ensure_mounts()


def _compile(src: Path, out: Path) -> None:
    vmlinux = BUILD / "vmlinux.h"
    # Several pytest runs may share build/: write to a private name, then rename.
    tag = f".{os.getpid()}.tmp"
    if not vmlinux.exists():
        from libbpfpy.btf import BTF
        vmlinux.parent.mkdir(parents=True, exist_ok=True)
        with BTF.vmlinux() as btf:
            btf.dump_c(str(vmlinux) + tag)
        os.replace(str(vmlinux) + tag, vmlinux)
    arch = {"x86_64": "x86", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["clang", "-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
                    "-Wall", "-Wno-unused-function", f"-I{BUILD}", f"-I{BPF_SRC}",
                    "-c", str(src), "-o", str(out) + tag], check=True)
    os.replace(str(out) + tag, out)


@pytest.fixture(scope="session")
def bpf_object_path():
    """``bpf_object_path("maps")`` -> path of tests/bpf/maps.bpf.c compiled (once)."""
    def get(name: str) -> str:
        src = BPF_SRC / f"{name}.bpf.c"
        out = BUILD / "tests" / f"{name}.bpf.o"
        headers = list(BPF_SRC.glob("*.h"))
        newest = max([src.stat().st_mtime] + [h.stat().st_mtime for h in headers])
        if not out.exists() or out.stat().st_mtime < newest:
            need(subprocess.run(["which", "clang"], capture_output=True).returncode == 0,
                 "clang not installed")
            _compile(src, out)
        return str(out)
    return get


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def _no_leaks():
    """Fail a test that leaves fds open or needed the garbage collector to close
    a libbpfpy resource."""
    from libbpfpy import _lifetime
    gc.collect()
    before_fds = _open_fds()
    before_leaks = dict(_lifetime.leaks)
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    new_leaks = {k: v - before_leaks.get(k, 0) for k, v in _lifetime.leaks.items()
                 if v != before_leaks.get(k, 0)}
    after_fds = _open_fds()
    leaked = sorted(after_fds - before_fds, key=int)
    details = []
    for fd in leaked:
        try:
            details.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass  # the listing's own fd
    assert not details, f"test leaked file descriptors: {details}"
    assert not new_leaks, f"resources released only by the garbage collector: {new_leaks}"
