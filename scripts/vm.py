#!/usr/bin/env python3
"""Run a command as root inside a Debian kernel booted under qemu.

    vm.py prepare KERNEL                 fetch and unpack the kernel, build its initramfs
    vm.py run KERNEL [options] -- CMD    boot KERNEL, run CMD (a shell command line), exit
                                         with its status
    vm.py list                           the declared kernels and what is cached

KERNEL is one of the declared names (``bookworm`` = Debian 12's 6.1, ``backports`` =
bookworm-backports' 6.12, ``sid`` = the newest), fetched from Debian's registry through
the project's private apt configuration (scripts/debian.py) into ``build/kernels/``.

No disk image is built.  The guest boots a tiny initramfs (busybox-static and the
kernel's own 9p/virtio/overlay modules) that mounts the host's ``/`` read-only over 9p
and puts a tmpfs overlay on top, so every host path -- this checkout, the venv, the
compilers -- is visible at the same place and writable without touching the host.  It
mounts proc, sys, devpts, tracefs, debugfs, bpffs and cgroup2, makes the kernel's
modules and config visible where modprobe and libbpf's ``__kconfig`` look
(``/lib/modules/<release>``, ``/boot/config-<release>``), runs CMD in the caller's
working directory with the caller's LIBBPFPY_*/CI/PYTEST_* environment, writes its exit
status to a second (writable) 9p share, and powers off.  The serial console carries the
output.  BPF LSM is enabled on the kernel command line.

Acceleration: KVM when ``/dev/kvm`` boots the guest (tried once per host boot, the
answer cached), else TCG (``-accel tcg,thread=single``), where a guest boots in 6-18 s.
Single-threaded TCG: with one host thread per vCPU (``thread=multi``) a 7.2 guest
once hit a stray int3 in ``__schedule`` while a static key was being patched (live
text patching across vCPU threads) and panicked; one thread running every vCPU
cannot race its own code patching.
``LIBBPFPY_VM_ACCEL=kvm|tcg`` forces one.
"""
from __future__ import annotations

import argparse
import lzma
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import debian  # noqa: E402

KERNELS_DIR = Path(os.environ.get("LIBBPFPY_KERNELS_DIR", ROOT / "build" / "kernels"))
# name -> Debian suite serving it.  The matrix runs each of these.
KERNELS = {
    "bookworm": "bookworm",             # 6.1, Debian 12's own
    "backports": "bookworm-backports",  # 6.12
    "sid": "sid",                       # the newest Debian has (7.x)
}
# What the initramfs needs to mount the host's root: 9p over virtio, and overlayfs.
# Modules the kernel has built in are skipped (modules.builtin).
ROOT_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]
# Passed from the caller's environment into the guest's command.
ENV_PREFIXES = ("LIBBPFPY_", "PYTEST_", "HYPOTHESIS_")
# (Not PYTHONDONTWRITEBYTECODE: under TCG, recompiling every module in every Python
# process the tests start costs more than anything else.)
ENV_NAMES = ("CI", "TERM", "LANG", "COLUMNS", "PYTHONPATH")
LSMS = "lockdown,capability,landlock,yama,bpf"
BUSYBOX = "/bin/busybox"
STATUS_MISSING = 125  # the guest ended without reporting the command's status


_POWER_OFF = re.compile(rb"^\[\s*\d+\.\d+\] reboot: Power down")


def log(msg: str) -> None:
    print(f"vm: {msg}", file=sys.stderr, flush=True)


# -- fetching and preparing a kernel --------------------------------------------------------

def _kernel_packages(suite: str) -> list[str]:
    """The packages that make up the newest kernel of ``suite``: the versioned image
    and, where Debian splits it (7.x), its binary/modules/base packages."""
    image = debian.resolve(suite, "linux-image-amd64")
    release = image.removeprefix("linux-image-")
    deps = debian.depends(suite, image)
    extra = [d for d in deps if d.endswith(release) and d.startswith("linux-")
             and d != image and not d.startswith("linux-headers")]
    return [image, *extra]


class Kernel:
    """A prepared kernel: ``tree`` is the merged unpacked packages (boot/, lib/modules/)."""

    def __init__(self, name: str) -> None:
        if name not in KERNELS:
            raise SystemExit(f"vm: unknown kernel {name!r} (declared: {', '.join(KERNELS)})")
        self.name = name
        self.suite = KERNELS[name]
        self.dir = KERNELS_DIR / name
        self.tree = self.dir / "tree"

    @property
    def release(self) -> str:
        return (self.dir / "release").read_text().strip()

    @property
    def modules(self) -> Path:
        return self.tree / "lib" / "modules" / self.release

    def _boot_file(self, name: str) -> Path:
        """``name`` (vmlinuz, config) of this kernel: in /boot as Debian 12's packages
        put it, or beside the modules as newer, usrmerged ones do."""
        for cand in (self.tree / "boot" / f"{name}-{self.release}", self.modules / name):
            if cand.exists():
                return cand
        raise SystemExit(f"vm: no {name} in {self.tree}")

    @property
    def vmlinuz(self) -> Path:
        return self._boot_file("vmlinuz")

    @property
    def config(self) -> Path:
        return self._boot_file("config")

    @property
    def initramfs(self) -> Path:
        return self.dir / "initramfs.cpio"

    def prepared(self) -> bool:
        return (self.dir / ".prepared").exists() and self.initramfs.exists()

    def _initramfs_current(self) -> bool:
        stamp = self.dir / ".initramfs"
        return self.initramfs.exists() and stamp.exists() and \
            stamp.read_text().strip() == _initramfs_key()

    def prepare(self, refresh: bool = False) -> Kernel:
        """Fetch (when missing or when the suite moved on, with ``refresh``), merge,
        depmod, and build the initramfs.  Idempotent."""
        if self.prepared() and not refresh:
            if not self._initramfs_current():  # this script's init changed
                self._build_initramfs()
            return self
        packages = _kernel_packages(self.suite)
        stamp = " ".join(packages)
        if self.prepared() and (self.dir / ".prepared").read_text().strip() == stamp:
            return self
        log(f"{self.name}: fetching {', '.join(packages)} from {self.suite}")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        parts = self.dir / "packages"
        for pkg in packages:
            debian.fetch(self.suite, pkg, parts / pkg)
        self.tree.mkdir()
        for pkg in packages:
            _merge_usr(parts / pkg, self.tree)
        shutil.rmtree(parts)
        releases = sorted(p.name for p in (self.tree / "lib" / "modules").iterdir())
        if len(releases) != 1:
            raise SystemExit(f"vm: expected one kernel release in {packages}, got {releases}")
        (self.dir / "release").write_text(releases[0] + "\n")
        subprocess.run(["depmod", "-b", str(self.tree), releases[0]], check=True)
        self._build_initramfs()
        (self.dir / ".prepared").write_text(stamp + "\n")
        log(f"{self.name}: kernel {self.release} ready in {self.dir}")
        return self

    def _module_closure(self) -> list[Path]:
        """ROOT_MODULES and what they depend on, dependencies first; built-ins left out."""
        deps: dict[str, list[str]] = {}
        for line in (self.modules / "modules.dep").read_text().splitlines():
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
        by_name = {_mod_name(m): m for m in deps}
        order: list[str] = []

        def visit(rel: str) -> None:
            for dep in deps.get(rel, []):
                visit(dep)
            if rel not in order:
                order.append(rel)
        for name in ROOT_MODULES:
            rel = by_name.get(name.replace("-", "_"))
            if rel is not None:
                visit(rel)
        return [self.modules / rel for rel in order]

    def _build_initramfs(self) -> None:
        with tempfile.TemporaryDirectory(prefix="vm-initramfs-") as tmp:
            root = Path(tmp)
            for d in ("bin", "dev", "proc", "sys", "lower", "rw", "newroot", "results",
                      "modules"):
                (root / d).mkdir()
            shutil.copy2(BUSYBOX, root / "bin" / "busybox")
            names = []
            for i, path in enumerate(self._module_closure()):
                data = path.read_bytes()
                if path.suffix == ".xz":
                    data = lzma.decompress(data)
                elif path.suffix == ".zst":
                    data = subprocess.run(["zstd", "-dc", str(path)], check=True,
                                          capture_output=True).stdout
                name = f"{i:02d}-{_mod_name(path.name)}.ko"
                (root / "modules" / name).write_bytes(data)
                names.append(name)
            init = root / "init"
            init.write_text(INIT)
            init.chmod(0o755)
            listing = subprocess.run(["find", "."], cwd=root, check=True, text=True,
                                     capture_output=True).stdout
            out = self.initramfs.with_suffix(".tmp")
            with open(out, "wb") as f:
                subprocess.run(["cpio", "--quiet", "-o", "-H", "newc"], cwd=root,
                               input=listing.encode(), stdout=f, check=True)
            os.replace(out, self.initramfs)
        (self.dir / ".initramfs").write_text(_initramfs_key() + "\n")


def _initramfs_key() -> str:
    import hashlib
    return hashlib.sha256((INIT + repr(ROOT_MODULES)).encode()).hexdigest()[:16]


def _mod_name(path: str) -> str:
    base = os.path.basename(path)
    return re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base).replace("-", "_")


def _merge_usr(src: Path, dest: Path) -> None:
    """Copy an unpacked package into ``dest``, folding ``usr/lib`` into ``lib`` (newer
    packages are usrmerged, older ones are not)."""
    for top in ("boot", "lib", "usr/lib"):
        s = src / top
        if s.is_dir():
            target = dest / ("lib" if top == "usr/lib" else top)
            shutil.copytree(s, target, dirs_exist_ok=True, symlinks=True)


# -- the guest's init ------------------------------------------------------------------------

INIT = r"""#!/bin/busybox sh
# libbpfpy's VM init: mount the host's root read-only over 9p with a tmpfs overlay,
# make that the root (switch_root: the kernel's own helpers such as modprobe then run
# there) and hand over to /results/stage2, which runs the command and powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /modules/*.ko; do
    [ -e "$m" ] && insmod "$m" 2>/dev/null
done
fail() { echo "vm-init: $*" > /dev/console; echo o > /proc/sysrq-trigger; sleep 30; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /results \
    || fail "cannot mount the results share"
. /results/setup
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower \
    || fail "cannot mount the host root"
mount -t tmpfs -o mode=0755,size=75% rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
    || fail "cannot mount the overlay"
N=/newroot
mount -t proc proc $N/proc
mount -t sysfs sys $N/sys
mount -t devtmpfs dev $N/dev
mkdir -p $N/dev/pts $N/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $N/dev/pts
ln -sf pts/ptmx $N/dev/ptmx
mount -t tmpfs tmpfs $N/dev/shm
# /tmp stays the host's (through the overlay: files there are visible, writes stay
# in the guest); /run is the host's live state (netns, pids ...) and starts empty.
mount -t tmpfs tmpfs $N/run
mkdir -p $N/run/netns $N/run/lock
mount -t tracefs tracefs $N/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs $N/sys/kernel/debug 2>/dev/null
mount -t securityfs securityfs $N/sys/kernel/security
mount -t bpf bpf $N/sys/fs/bpf
mount -t cgroup2 cgroup2 $N/sys/fs/cgroup
# The kernel's own modules and config where modprobe and libbpf look for them.
mkdir -p $N/lib/modules/$VM_RELEASE $N/boot
mount --bind $N$VM_MODULES $N/lib/modules/$VM_RELEASE
cp $N$VM_CONFIG $N/boot/config-$VM_RELEASE
hostname "vm-$VM_NAME"
ip link set lo up
mkdir -p $N/results
mount --move /results $N/results
exec switch_root $N /bin/sh /results/stage2
"""

# Runs as PID 1 in the guest's real root: the command on the serial line as its
# controlling terminal (setsid -c), in the caller's directory and environment.
STAGE2 = r"""#!/bin/sh
echo "@@vm-ready $(uname -r)" > /dev/console
setsid -c -w /bin/sh -c '. /results/env; cd "$VM_CWD" && exec /bin/sh /results/cmd' \
    < /dev/ttyS0 > /dev/ttyS0 2>&1
echo $? > /results/status.tmp && mv /results/status.tmp /results/status
echo "@@vm-done" > /dev/console
sync
echo o > /proc/sysrq-trigger
sleep 30
"""


# -- running -------------------------------------------------------------------------------

def _accel() -> list[str]:
    forced = os.environ.get("LIBBPFPY_VM_ACCEL", "auto")
    if forced == "tcg" or (forced == "auto" and not _kvm_works()):
        return ["-accel", "tcg,thread=single", "-cpu", "max"]
    return ["-accel", "kvm", "-cpu", "host"]


def _kvm_works() -> bool:
    """Whether /dev/kvm can boot our guests: tried once per host boot (a short boot of
    the first prepared kernel running ``true``), the answer cached under build/."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = "unknown"
    cache = KERNELS_DIR / f".kvm-{boot}"
    if cache.exists():
        return cache.read_text().strip() == "yes"
    kernel = next((Kernel(n) for n in KERNELS if Kernel(n).prepared()), None)
    if kernel is None:
        return False
    log("trying KVM once for this boot (falls back to TCG)")
    os.environ["LIBBPFPY_VM_ACCEL"] = "kvm"
    try:
        ok = run(kernel, "true", timeout=40, quiet=True) == 0
    finally:
        os.environ.pop("LIBBPFPY_VM_ACCEL", None)
    KERNELS_DIR.mkdir(parents=True, exist_ok=True)
    cache.write_text("yes\n" if ok else "no\n")
    log(f"KVM {'works' if ok else 'does not boot our guests here: using TCG'}")
    return ok


def _env_lines(extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items()
           if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}
    env.update(extra)
    env.setdefault("LANG", "C.UTF-8")
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["HOME"] = "/root"
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))


def run(kernel: Kernel, command: str, *, cwd: str | None = None, timeout: float = 3600,
        memory: str = "2G", cpus: int | None = None, env: dict[str, str] | None = None,
        quiet: bool = False, output: Path | None = None,
        artifacts: Path | None = None) -> int:
    """Boot ``kernel``, run shell ``command`` as root in ``cwd``; return its exit status
    (``STATUS_MISSING`` when the guest ended without one, e.g. on a timeout).  What the
    command writes under ``/results/out`` is copied to ``artifacts`` afterwards."""
    kernel.prepare()
    cpus = cpus or min(os.cpu_count() or 1, 4)
    with tempfile.TemporaryDirectory(prefix="vm-results-") as results_dir:
        results = Path(results_dir)
        (results / "setup").write_text(
            f"VM_NAME={shlex.quote(kernel.name)}\n"
            f"VM_RELEASE={shlex.quote(kernel.release)}\n"
            f"VM_MODULES={shlex.quote(str(kernel.modules.resolve()))}\n"
            f"VM_CONFIG={shlex.quote(str(kernel.config.resolve()))}\n")
        (results / "env").write_text(_env_lines({"VM_CWD": cwd or os.getcwd(),
                                                 "LIBBPFPY_VM": kernel.name,
                                                 **(env or {})}))
        (results / "cmd").write_text(command + "\n")
        (results / "stage2").write_text(STAGE2)
        cmdline = (f"console=ttyS0 rdinit=/init panic=-1 loglevel=4 lsm={LSMS} "
                   "mitigations=off tsc=reliable no_timer_check")
        qemu = ["qemu-system-x86_64", *_accel(), "-smp", str(cpus), "-m", memory,
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-serial", "stdio", "-monitor", "none",
                "-kernel", str(kernel.vmlinuz), "-initrd", str(kernel.initramfs),
                "-append", cmdline,
                "-device", "virtio-rng-pci",
                "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,"
                          "multidevs=remap",
                "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
                "-fsdev", f"local,id=results,path={results},security_model=none",
                "-device", "virtio-9p-pci,fsdev=results,mount_tag=results"]
        started = time.monotonic()
        import resource
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdout is not None
        sink = open(output, "wb") if output else None
        ready = threading.Event()
        boot_lines: list[bytes] = []

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if not ready.is_set():
                    boot_lines.append(line)
                    if line.startswith(b"KVM internal error"):
                        # qemu pauses the guest and waits: nothing more will come
                        os.killpg(proc.pid, signal.SIGKILL)
                    if line.startswith(b"@@vm-ready"):
                        ready.set()
                        if not quiet:
                            log(f"{kernel.name}: {line.decode().split()[1]} booted in "
                                f"{time.monotonic() - started:.1f} s")
                    continue
                if line.startswith(b"@@vm-done") or _POWER_OFF.match(line):
                    ready.clear()  # what follows is the power-off's noise
                    boot_lines.clear()
                    continue
                if sink:
                    sink.write(line)
                if not quiet:
                    sys.stdout.buffer.write(line.replace(b"\r\n", b"\n"))
                    sys.stdout.buffer.flush()
        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"{kernel.name}: timed out after {timeout:.0f} s; stopping the guest")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=5)
        if sink:
            sink.close()
        if artifacts is not None and (results / "out").is_dir():
            shutil.copytree(results / "out", artifacts, dirs_exist_ok=True)
        status_file = results / "status"
        if not status_file.exists():
            if not quiet:
                sys.stderr.buffer.write(b"".join(boot_lines[-40:]))
                log(f"{kernel.name}: the guest ended without the command's status "
                    f"(qemu exit {proc.returncode})")
            return STATUS_MISSING
        status = int(status_file.read_text().strip() or STATUS_MISSING)
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - \
            (cpu_before.ru_utime + cpu_before.ru_stime)
        if not quiet:
            # CPU time says what a run costs whatever else the machine was doing
            log(f"{kernel.name}: command exited {status} after "
                f"{time.monotonic() - started:.1f} s ({cpu:.0f} s of CPU)")
        return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="fetch a kernel and build its initramfs")
    p.add_argument("kernel", nargs="+", choices=[*KERNELS, "all"])
    p.add_argument("--refresh", action="store_true", help="fetch anew if the suite moved on")
    r = sub.add_parser("run", help="run a command in a guest")
    r.add_argument("kernel", choices=KERNELS)
    r.add_argument("--timeout", type=float, default=3600, help="seconds (default 3600)")
    r.add_argument("--memory", default="2G")
    r.add_argument("--cpus", type=int)
    r.add_argument("--cwd", help="working directory in the guest (default: this one)")
    r.epilog = "The command comes after --: vm.py run sid -- pytest -x tests/"
    sub.add_parser("list", help="the declared kernels")
    argv = list(sys.argv[1:] if argv is None else argv)
    words: list[str] = []
    if "--" in argv:  # everything after -- is the guest's command line
        cut = argv.index("--")
        argv, words = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if args.cmd == "prepare":
        names = list(KERNELS) if "all" in args.kernel else args.kernel
        for name in names:
            Kernel(name).prepare(refresh=args.refresh)
        return 0
    if args.cmd == "list":
        for name, suite in KERNELS.items():
            k = Kernel(name)
            print(f"{name:10} {suite:20} {k.release if k.prepared() else '(not fetched)'}")
        return 0
    if not words:
        parser.error("run: give a command after --")
    command = words[0] if len(words) == 1 else shlex.join(words)
    return run(Kernel(args.kernel), command, cwd=args.cwd, timeout=args.timeout,
               memory=args.memory, cpus=args.cpus)


if __name__ == "__main__":
    sys.exit(main())
