"""Shared fixtures: compiled BPF objects, privilege handling, leak checks."""
from __future__ import annotations

import gc
import os
import subprocess
import warnings
from pathlib import Path

import pytest

from machines import describe_fds

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
BPF_SRC = ROOT / "tests" / "bpf"
REQUIRE_BPF = os.environ.get("LIBBPFPY_REQUIRE_BPF") == "1"


def _privileged() -> bool:
    from libbpfpy._caps import has_bpf_privileges
    return has_bpf_privileges()


def need(condition: bool, what: str) -> None:
    """Fail unless ``condition``: a tool the test needs is missing.

    ``make setup`` installs every tool the suite uses, so its absence is a broken
    setup to report, never a reason to skip."""
    if not condition:
        pytest.fail(f"{what} (`make setup` installs it: the test environment is incomplete)")


def need_privileges() -> None:
    """Skip, quoting the ``probe.privileges()`` probe, without BPF privileges;
    under LIBBPFPY_REQUIRE_BPF=1 (CI) fail instead."""
    from libbpfpy import probe
    feature = probe.privileges()
    if feature:
        return
    if REQUIRE_BPF:
        pytest.fail(f"LIBBPFPY_REQUIRE_BPF=1 but probe says: {feature}")
    pytest.skip(f"probe says: {feature}")


def skip_unless(feature: object) -> None:
    """Skip when a probe says a kernel feature is missing, quoting the probe."""
    if not feature:
        pytest.skip(f"kernel feature missing, probe says: {feature}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Root tests without BPF privileges: skipped, quoting the probe -- or, under
    LIBBPFPY_REQUIRE_BPF=1 (CI), failed, so a CI run without privileges is red
    rather than green with the root tier unrun."""
    if "root" not in item.keywords:
        return
    from libbpfpy import probe
    privileges = probe.privileges()
    if privileges:
        return
    if REQUIRE_BPF:
        pytest.fail(f"LIBBPFPY_REQUIRE_BPF=1 but probe says: {privileges}", pytrace=False)
    pytest.skip(f"probe says: {privileges}")


@pytest.fixture(scope="session", autouse=True)
def _private_compile_cache(tmp_path_factory):
    """The suite compiles into a cache of its own (the commands it runs inherit it),
    not the machine's (/var/cache/libbpfpy for root): what an earlier session left
    there can neither help nor break a run, and a run leaves nothing there.  A cache
    the caller chose with LIBBPFPY_CACHE_DIR is kept."""
    if os.environ.get("LIBBPFPY_CACHE_DIR"):
        yield
        return
    os.environ["LIBBPFPY_CACHE_DIR"] = str(tmp_path_factory.mktemp("compile-cache"))
    try:
        yield
    finally:
        del os.environ["LIBBPFPY_CACHE_DIR"]


@pytest.fixture(scope="session", autouse=True)
def _mounts() -> None:
    if _privileged():
        from libbpfpy import fs
        fs.ensure_mounts()


def _multiarch_include() -> list[str]:
    # <bpf/usdt.bpf.h> includes <linux/errno.h>, which needs <asm/errno.h> from the
    # multiarch directory that clang -target bpf does not search by itself.
    try:
        triple = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return []
    path = Path("/usr/include") / triple
    return ["-idirafter", str(path)] if path.is_dir() else []


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
    headers = _libbpf_headers()
    from libbpfpy._compile import VMLINUX_CFLAGS
    subprocess.run(["clang", "-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}",
                    "-Wall", "-Wno-unused-function", *VMLINUX_CFLAGS,
                    f"-I{BUILD}", f"-I{BPF_SRC}",
                    f"-I{ROOT / 'src' / 'libbpfpy' / 'include'}",
                    *([f"-I{headers}"] if headers else []), *_multiarch_include(),
                    "-c", str(src), "-o", str(out) + tag],
                   check=True)
    os.replace(str(out) + tag, out)


def _libbpf_headers() -> str | None:
    """The BPF-side headers of the libbpf under test when it is not the system's
    (LIBBPFPY_LIBBPF): usdt.bpf.h must match the user-space libbpf."""
    from libbpfpy._compile import libbpf_headers_in_use
    return libbpf_headers_in_use()


def _fixture_dir() -> Path:
    """build/tests for the system's libbpf; a directory per header tree otherwise."""
    import hashlib
    headers = _libbpf_headers()
    if headers is None:
        return BUILD / "tests"
    return BUILD / f"tests-{hashlib.sha256(headers.encode()).hexdigest()[:12]}"


@pytest.fixture(scope="session")
def bpf_object_path():
    """``bpf_object_path("maps")`` -> path of tests/bpf/maps.bpf.c compiled (once)."""
    def get(name: str) -> str:
        src = BPF_SRC / f"{name}.bpf.c"
        out = _fixture_dir() / f"{name}.bpf.o"
        # Fixtures may include headers and the examples (hello.bpf.c is one).
        headers = list(BPF_SRC.glob("*.h")) + list((ROOT / "examples").glob("*.bpf.c")) \
            + list((ROOT / "src" / "libbpfpy" / "include" / "libbpfpy").glob("*.h"))
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
    details = describe_fds(sorted(after_fds - before_fds, key=int))
    assert not details, f"test leaked file descriptors: {details}"
    assert not new_leaks, f"resources released only by the garbage collector: {new_leaks}"


# -- helpers for the core tests -------------------------------------------------------

@pytest.fixture(scope="session")
def c_binary(tmp_path_factory):
    """``c_binary("core_target")`` -> tests/bpf/core_target.c built with gcc (once)."""
    built: dict[str, str] = {}
    outdir = tmp_path_factory.mktemp("cbin")

    def get(name: str, *flags: str) -> str:
        if name not in built:
            need(subprocess.run(["which", "gcc"], capture_output=True).returncode == 0,
                 "gcc not installed")
            out = outdir / name
            subprocess.run(["gcc", "-O1", "-g", *flags, "-o", str(out),
                            str(BPF_SRC / f"{name}.c")], check=True)
            built[name] = str(out)
        return built[name]
    return get


def run_unprivileged(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in a child with every capability dropped (uid stays 0, so
    files stay readable; the kernel sees no CAP_BPF/CAP_SYS_ADMIN/CAP_NET_ADMIN)."""
    import sys
    need(subprocess.run(["which", "setpriv"], capture_output=True).returncode == 0,
         "setpriv (util-linux) not installed")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env)


_NETNS_SEQ = [0]


class NetNS:
    """A throwaway network namespace, entered by the current thread with ``inside()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path = f"/var/run/netns/{name}"

    def ip(self, *args: str) -> str:
        return subprocess.run(["ip", "-n", self.name, *args], check=True,
                              capture_output=True, text=True).stdout

    def inside(self):
        import contextlib
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)

        @contextlib.contextmanager
        def cm():
            home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(self.path, os.O_RDONLY)
            try:
                if libc.setns(target, 0x40000000) != 0:  # CLONE_NEWNET
                    raise OSError(ctypes.get_errno(), "setns into " + self.name)
                try:
                    yield self
                finally:
                    if libc.setns(home, 0x40000000) != 0:
                        raise OSError(ctypes.get_errno(), "setns back home")
            finally:
                os.close(target)
                os.close(home)
        return cm()


_NETNS_FEATURE: list[object] = []


def netns_feature():
    """Whether this machine lets ``ip netns`` create named network namespaces (it
    needs CAP_SYS_ADMIN and a /run/netns it can make a shared mount point; some
    containers and chroots allow neither): tried once, for real."""
    from libbpfpy.probe import Feature
    if not _NETNS_FEATURE:
        name = f"lbpyprobe{os.getpid()}"
        res = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if res.returncode == 0:
            subprocess.run(["ip", "netns", "del", name], check=False)
            _NETNS_FEATURE.append(Feature("netns", True, "ip netns add worked"))
        else:
            _NETNS_FEATURE.append(Feature("netns", False, "ip netns add failed: "
                                          + (res.stderr.strip() or f"exit {res.returncode}")))
    return _NETNS_FEATURE[0]


_MOUNTNS_FEATURE: list[object] = []


def mountns_feature():
    """Whether a private mount namespace with its own mounts can be made here
    (``unshare --mount`` and a tmpfs mounted inside): tried once, for real."""
    from libbpfpy.probe import Feature
    if not _MOUNTNS_FEATURE:
        res = subprocess.run(["unshare", "--mount", "sh", "-c",
                              "mount -t tmpfs none /mnt && umount /mnt"],
                             capture_output=True, text=True)
        _MOUNTNS_FEATURE.append(
            Feature("mount namespace", True, "unshare --mount and a tmpfs mount worked")
            if res.returncode == 0 else
            Feature("mount namespace", False, "unshare --mount with a tmpfs mount failed: "
                    + (res.stderr.strip() or f"exit {res.returncode}")))
    return _MOUNTNS_FEATURE[0]


@pytest.fixture
def netns_factory():
    """Create throwaway network namespaces (deleted after the test); skipped, quoting
    the probe, where ``ip netns`` cannot work here."""
    need(subprocess.run(["which", "ip"], capture_output=True).returncode == 0,
         "iproute2 not installed")
    skip_unless(netns_feature())
    made: list[NetNS] = []

    def make() -> NetNS:
        _NETNS_SEQ[0] += 1
        ns = NetNS(f"lbpy{os.getpid()}_{_NETNS_SEQ[0]}")
        subprocess.run(["ip", "netns", "add", ns.name], check=True)
        made.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns
    yield make
    for ns in made:
        subprocess.run(["ip", "netns", "del", ns.name], check=False)


@pytest.fixture
def veth_pair(netns_factory):
    """Two namespaces joined by a veth pair: (ns_a, "va", 10.77.0.1) <-> (ns_b, "vb",
    10.77.0.2).  Returns (ns_a, ns_b)."""
    a, b = netns_factory(), netns_factory()
    # Created directly inside the namespaces: no name is ever taken in the host's.
    subprocess.run(["ip", "link", "add", "va", "netns", a.name, "type", "veth", "peer",
                    "name", "vb", "netns", b.name], check=True)
    a.ip("addr", "add", "10.77.0.1/24", "dev", "va")
    b.ip("addr", "add", "10.77.0.2/24", "dev", "vb")
    a.ip("link", "set", "va", "up")
    b.ip("link", "set", "vb", "up")
    return a, b


def send_udp(dst: str, port: int, count: int, payload: bytes = b"libbpfpy") -> None:
    """Send ``count`` UDP datagrams to ``dst``:``port`` from the current netns."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(count):
            s.sendto(payload, (dst, port))


def cgroup2_root() -> str | None:
    """Mount point of the cgroup v2 hierarchy, if mounted."""
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    return None


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return its last answer."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(interval)


_CGROUP_SEQ = [0]


@pytest.fixture
def cgroup_dir(tmp_path):
    """A fresh cgroup v2 directory (removed after the test, its processes moved back
    to the root).  Mounts a private cgroup2 hierarchy when none is mounted."""
    import time
    root = cgroup2_root()
    mounted = None
    if root is None:
        mounted = str(tmp_path / "cgroup2")
        os.mkdir(mounted)
        subprocess.run(["mount", "-t", "cgroup2", "none", mounted], check=True)
        root = mounted
    _CGROUP_SEQ[0] += 1
    path = os.path.join(root, f"libbpfpy-test-{os.getpid()}-{_CGROUP_SEQ[0]}")
    os.mkdir(path)
    try:
        yield path
    finally:
        with open(os.path.join(path, "cgroup.procs")) as f:
            pids = f.read().split()
        for pid in pids:
            try:
                with open(os.path.join(root, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass
        for _ in range(50):  # a child that just exited may linger a moment
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.05)
        if mounted:
            subprocess.run(["umount", mounted], check=False)


@pytest.fixture
def net_obj(request, bpf_object_path):
    """core_net.bpf.o loaded, counting UDP packets to the test module's UDP_PORT."""
    from libbpfpy import Object
    with Object.open(bpf_object_path("core_net")) as obj:
        obj.load()
        obj.maps["port_cfg"][0] = request.module.UDP_PORT
        yield obj


def run_python(code: str, *, timeout: float = 120,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in a child process (so that a crash fails the calling test
    instead of killing the suite); the child imports libbpfpy from this tree and can
    import the test helpers."""
    import sys
    full_env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'tests'}",
                    PYTHONFAULTHANDLER="1")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=str(ROOT))


def child_ok(proc: subprocess.CompletedProcess[str]) -> str:
    """An assertion message for a child run by :func:`run_python` (signal named)."""
    import signal
    rc = proc.returncode
    how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
    return f"child {how}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


def libbpf_refused_object(bpf_object_path) -> bytes:
    """A well-formed object that libbpf itself refuses, with a warning in its log:
    hello.bpf.o with its .bss renamed to the legacy "maps" section (malformed objects
    no longer reach libbpf: libbpfpy refuses them first)."""
    data = open(bpf_object_path("hello"), "rb").read()
    assert b"\0.bss\0" in data   # (its BTF's DATASEC is renamed too: harmless)
    return data.replace(b"\0.bss\0", b"\0maps\0")
