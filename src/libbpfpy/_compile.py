"""Compiling BPF C: ``libbpfpy.compile()`` and the generated ``vmlinux.h``.

    path = libbpfpy.compile("prog.bpf.c")          # cached object file
    with Object.open(path) as obj: ...

clang is run as ``clang -g -O2 -target bpf -D__TARGET_ARCH_<arch> -fms-extensions``
(see :data:`VMLINUX_CFLAGS`) with libbpf's
headers and a ``vmlinux.h`` generated from the running kernel's BTF (no bpftool).

Both are cached in a private directory: ``/var/cache/libbpfpy`` for root,
``$XDG_CACHE_HOME/libbpfpy`` (``~/.cache/libbpfpy``) otherwise, or
``$LIBBPFPY_CACHE_DIR``.  The directory must be owned by the caller and not writable
by group or others (it is created 0700); anything else is refused.  Files are written
to a temporary name and renamed into place, never through symlinks.

Objects are cached by a hash of the source, the flags, the clang asked for and the
kernel; the headers the source included (clang's ``-MD`` list) are recorded with
their hashes, so editing one recompiles, and so is the clang binary that compiled
it, so upgrading clang recompiles while a cache hit on a machine without clang
still works: looking the object up never needs the compiler.  ``vmlinux.h`` is cached per
kernel build id (``/sys/kernel/notes``), falling back to a hash of the kernel's BTF.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import BPFError, CompileError

# subprocess, tempfile, shlex and sysconfig are imported where a compilation (or a
# vmlinux.h) is actually produced: a cache hit, the common case at a tool's start,
# needs none of them.

__all__ = ["compile", "vmlinux_header", "cache_dir", "target_arch", "kernel_build_id"]

#: What a ``vmlinux.h`` of a recent kernel needs from clang.  Linux 6.19 and later
#: embed tagged structs and unions as unnamed members (``struct filename`` holds
#: ``struct __filename_head;``, which holds ``name``), a Microsoft extension that
#: the kernel builds with; the C dumped from their BTF spells them the same way.
#: Without ``-fms-extensions`` clang reads such a member as an empty declaration
#: and its fields vanish (``no member named 'name' in 'struct filename'``).  The
#: same flags as the kernel's BPF selftests; harmless with older kernels' headers.
VMLINUX_CFLAGS = ("-fms-extensions", "-Wno-microsoft-anon-tag")

log = logging.getLogger("libbpfpy.compile")

_FORMAT = "libbpfpy-compile-1"
_ARCHES = {"x86_64": "x86", "i386": "x86", "i686": "x86", "aarch64": "arm64",
           "arm64": "arm64", "armv7l": "arm", "armv6l": "arm", "ppc64le": "powerpc",
           "ppc64": "powerpc", "s390x": "s390", "riscv64": "riscv", "mips": "mips",
           "mips64": "mips", "loongarch64": "loongarch", "sparc64": "sparc"}
_VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
_NOTES = "/sys/kernel/notes"


def target_arch(machine: str | None = None) -> str:
    """The ``__TARGET_ARCH_<arch>`` name libbpf's headers use for this machine."""
    m = machine or os.uname().machine
    return _ARCHES.get(m, m)


# -- the cache directory -----------------------------------------------------------------

def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory (created 0700 if missing), after checking that it is a real
    directory owned by the caller and not writable by group or others."""
    if path is None:
        env = os.environ.get("LIBBPFPY_CACHE_DIR")
        if env:
            path = env
        elif os.geteuid() == 0:
            path = "/var/cache/libbpfpy"
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
                os.path.expanduser("~"), ".cache")
            path = os.path.join(base, "libbpfpy")
    p = Path(os.path.abspath(path))
    _private_dir(p, create_parents=True)
    return p


def _private_dir(p: Path, *, create_parents: bool = False) -> None:
    if create_parents:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(p, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(p)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise BPFError(20, f"refusing cache directory {p}: not a directory (or a symlink)",
                       call="cache", target=str(p))
    if st.st_uid != os.geteuid():
        raise BPFError(1, f"refusing cache directory {p}: owned by uid {st.st_uid}, not "
                       f"by this user (uid {os.geteuid()})", call="cache", target=str(p))
    if st.st_mode & 0o022:
        raise BPFError(1, f"refusing cache directory {p}: writable by group or others "
                       f"(mode {stat.S_IMODE(st.st_mode):o}); chmod go-w it",
                       call="cache", target=str(p))


def _atomic_write(dest: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``dest`` through a temporary file in the same directory and a
    rename (which replaces a symlink at ``dest`` rather than following it)."""
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, dest)
    except BaseException:
        _unlink(tmp)
        raise


def _atomic_copy(src: Path, dest: Path) -> None:
    import tempfile
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, _open_nofollow(src) as inp:
            shutil.copyfileobj(inp, out)
            os.fchmod(out.fileno(), 0o644)
        os.replace(tmp, dest)
    except BaseException:
        _unlink(tmp)
        raise


def _open_nofollow(path: Path) -> Any:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    return os.fdopen(fd, "rb")


def _read_nofollow(path: Path) -> bytes | None:
    try:
        with _open_nofollow(path) as f:
            return f.read()  # type: ignore[no-any-return]
    except OSError:
        return None


def _unlink(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- vmlinux.h ------------------------------------------------------------------------------

def kernel_build_id() -> str | None:
    """The running kernel's GNU build id (hex) from ``/sys/kernel/notes``, if any."""
    try:
        with open(_NOTES, "rb") as f:
            data = f.read()
    except OSError:
        return None
    off = 0
    while off + 12 <= len(data):
        namesz, descsz, ntype = (int.from_bytes(data[off + i:off + i + 4], "little")
                                 for i in (0, 4, 8))
        name_end = off + 12 + ((namesz + 3) & ~3)
        desc = data[name_end:name_end + descsz]
        if ntype == 3 and data[off + 12:off + 12 + namesz].rstrip(b"\0") == b"GNU":
            return desc.hex()
        off = name_end + ((descsz + 3) & ~3)
    return None


def _kernel_key() -> str:
    from ._raw import version
    bid = kernel_build_id()
    if bid:
        ident = f"build-id:{bid}"
    else:
        h = hashlib.sha256()
        with open(_VMLINUX_BTF, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        ident = f"btf:{h.hexdigest()}"
    return hashlib.sha256(f"{_FORMAT}|{ident}|libbpf {version}".encode()).hexdigest()[:24]


def vmlinux_header(cache: str | os.PathLike[str] | None = None) -> Path:
    """The path of a ``vmlinux.h`` for the running kernel, generated through libbpf's
    ``btf_dump`` on first use and cached per kernel build.

    Requires Linux >= 5.4 built with CONFIG_DEBUG_INFO_BTF."""
    root = cache_dir(cache)
    d = root / "vmlinux"
    _private_dir(d)
    sub = d / _kernel_key()
    _private_dir(sub)
    header = sub / "vmlinux.h"
    st = _lstat(header)
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size > 0:
        return header
    import tempfile

    from .btf import BTF
    fd, tmp = tempfile.mkstemp(prefix=".vmlinux.h.", suffix=".tmp", dir=sub)
    os.close(fd)
    try:
        with BTF.vmlinux() as btf:
            btf.dump_c(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, header)
    except BaseException:
        _unlink(tmp)
        raise
    log.info("generated %s", header)
    return header


def _lstat(p: Path) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except OSError:
        return None


# -- compile ------------------------------------------------------------------------------

def _find_clang(name: str | None) -> str:
    candidates = [name] if name else ["clang"] + [f"clang-{v}" for v in range(20, 9, -1)]
    for c in candidates:
        found = shutil.which(c)
        if found:
            return os.path.realpath(found)
    raise CompileError(f"clang not found ({', '.join(candidates[:2])}): install clang "
                       "(Debian: apt install clang llvm) or set LIBBPFPY_CLANG",
                       diagnostics="", returncode=127)


def _libbpf_include() -> str | None:
    """Directory holding ``bpf/bpf_helpers.h``, if it is not on clang's default path."""
    explicit = os.environ.get("LIBBPFPY_LIBBPF_INCLUDE")
    if explicit:
        return explicit
    for d in ("/usr/include", "/usr/local/include"):
        if os.path.exists(os.path.join(d, "bpf", "bpf_helpers.h")):
            return None if d == "/usr/include" else d
    return None


def libbpf_headers_in_use() -> str | None:
    """The headers installed with the libbpf this process loaded, when that is not
    the system's (``LIBBPFPY_LIBBPF`` pointing into a ``make install`` tree or an
    unpacked Debian package): ``<dir>/../include`` or ``<dir>/../../include`` of the
    library, if it holds ``bpf/bpf_helpers.h``.

    BPF-side headers must match the user-space libbpf: ``usdt.bpf.h`` of libbpf 1.1
    reads no USDT arguments when libbpf 1.7 attached the probe, and the reverse."""
    explicit = os.environ.get("LIBBPFPY_LIBBPF")
    if not explicit:
        return None
    here = os.path.dirname(os.path.realpath(explicit))
    for up in (os.pardir, os.path.join(os.pardir, os.pardir)):
        cand = os.path.normpath(os.path.join(here, up, "include"))
        if os.path.exists(os.path.join(cand, "bpf", "bpf_helpers.h")):
            return cand
    return None


def _multiarch_include() -> str | None:
    import sysconfig
    triple = sysconfig.get_config_var("MULTIARCH") or f"{os.uname().machine}-linux-gnu"
    path = os.path.join("/usr/include", str(triple))
    return path if os.path.isdir(path) else None


def _file_hash(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _parse_depfile(text: str) -> list[str]:
    """The prerequisites listed in a make-style dependency file (clang's -MD)."""
    body = text.split(": ", 1)[1] if ": " in text else ""
    body = body.replace("\\\n", " ").replace("\\ ", "\0")
    return [p.replace("\0", " ") for p in body.split()]


def _deps_fresh(record: dict[str, Any]) -> bool:
    for path, size, mtime, digest in record.get("deps", []):
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_size == size and st.st_mtime_ns == mtime:
            continue
        if _file_hash(path) != digest:
            return False
    return True


def _stem(src_path: Path) -> str:
    """The source's name up to its first dot (``prog`` for ``prog.bpf.c``), which
    becomes the cached object's name: libbpf names an object (and prefixes its
    ``.rodata``/``.bss`` maps) after its file."""
    stem = src_path.name.split(".", 1)[0]
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in stem)[:32]
    return safe or "bpf"


def _compiler_fresh(record: dict[str, Any]) -> bool:
    """Whether the compiler that made a cached object still stands as it was; a
    compiler that is gone (a production box without clang) leaves the object valid."""
    ident = record.get("compiler")
    if not isinstance(ident, list) or len(ident) != 3:
        return False
    path, size, mtime = ident
    try:
        st = os.stat(path)
    except OSError:
        return True
    return bool(st.st_size == size and st.st_mtime_ns == mtime)


def compile(src: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
            cflags: Sequence[str] = (), include_dirs: Iterable[str | os.PathLike[str]] = (),
            cache: bool = True, cache_path: str | os.PathLike[str] | None = None,
            clang: str | os.PathLike[str] | None = None,
            vmlinux: str | os.PathLike[str] | None = None) -> Path:
    """Compile BPF C source ``src`` to an object file; return its path.

    Runs ``clang -g -O2 -target bpf -D__TARGET_ARCH_<arch> -fms-extensions
    -Wno-microsoft-anon-tag`` (what a recent kernel's ``vmlinux.h`` needs) plus
    ``cflags`` with
    ``-I`` for each of ``include_dirs``, the directory of a generated ``vmlinux.h``
    (or of ``vmlinux``, a header of your own) and libbpf's headers.  The object is
    copied to ``out`` and ``out`` is returned as given, if given; else the cached
    object's path is returned (named after the source: ``prog.<hash>.o`` for
    ``prog.bpf.c``, so libbpf calls the object ``prog``).  An unchanged source (same
    flags, same included headers, same kernel) is not compiled again unless
    ``cache=False``, and such a cache hit does not need clang at all: the object
    is recompiled only when the clang that made it changed, not when it is gone.
    ``clang`` overrides the compiler (also ``$LIBBPFPY_CLANG``); ``cache_path`` the
    cache directory.

    Raises :class:`~libbpfpy.CompileError` with clang's diagnostics when it fails.
    """
    src_path = Path(os.path.abspath(os.fspath(src)))
    source = _read_nofollow(src_path) if src_path.exists() else None
    if source is None:
        raise FileNotFoundError(2, "BPF source not found", str(src_path))
    requested = os.fspath(clang) if clang is not None else os.environ.get("LIBBPFPY_CLANG")
    root = cache_dir(cache_path)
    objects = root / "objects"
    _private_dir(objects)
    header: Path | None = None
    if vmlinux is not None:
        vmlinux_dir = os.path.dirname(os.path.abspath(os.fspath(vmlinux)))
        vm_ident = _file_hash(os.fspath(vmlinux)) or "missing"
    else:
        # Only the kernel's identity goes into the key; the header itself is
        # generated when clang is about to need it.
        vm_ident = _kernel_key()
        vmlinux_dir = str(root / "vmlinux" / vm_ident)
    incs = [os.path.abspath(os.fspath(d)) for d in include_dirs]
    libbpf_inc = _libbpf_include()
    matching = libbpf_headers_in_use()
    argv = ["-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{target_arch()}",
            *VMLINUX_CFLAGS, *cflags, *(f"-I{d}" for d in incs), f"-I{vmlinux_dir}",
            *([f"-I{matching}"] if matching else [])]
    if libbpf_inc:
        argv.append(f"-idirafter{libbpf_inc}")
    multiarch = _multiarch_include()
    if multiarch:
        # <bpf/usdt.bpf.h> -> <linux/errno.h> -> <asm/errno.h>, which lives in the
        # multiarch directory that clang -target bpf does not search.
        argv.append(f"-idirafter{multiarch}")
    key_text = json.dumps([_FORMAT, requested or "", argv, str(src_path),
                           hashlib.sha256(source).hexdigest(), vm_ident])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    stem = _stem(src_path)
    cached = objects / f"{stem}.{key}.o"
    record_path = objects / f"{stem}.{key}.json"
    if cache:
        raw = _read_nofollow(record_path)
        st = _lstat(cached)
        if raw is not None and st is not None and stat.S_ISREG(st.st_mode):
            try:
                record = json.loads(raw)
            except ValueError:
                record = {}
            if record.get("key") == key and _deps_fresh(record) and \
                    _compiler_fresh(record):
                log.debug("compile cache hit for %s: %s", src_path, cached)
                return _deliver(cached, out)
    compiler = _find_clang(requested)
    if vmlinux is None:
        header = vmlinux_header(root)
        if str(header.parent) != vmlinux_dir:  # the kernel changed under us
            raise CompileError(f"the kernel's identity changed while compiling {src_path}; "
                               "try again", diagnostics="", returncode=1)
    cst = os.stat(compiler)
    import shlex
    import subprocess
    import tempfile
    fd, tmp_obj = tempfile.mkstemp(prefix=f".{key}.", suffix=".o.tmp", dir=objects)
    os.close(fd)
    depfile = tmp_obj + ".d"
    cmd = [compiler, *argv, "-MD", "-MF", depfile, "-c", str(src_path), "-o", tmp_obj]
    log.info("compiling %s: %s", src_path, shlex.join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=src_path.parent)
        if proc.returncode != 0:
            raise CompileError(f"clang failed to compile {src_path} "
                               f"(exit status {proc.returncode})",
                               diagnostics=proc.stderr, returncode=proc.returncode)
        if proc.stderr:
            log.warning("clang: %s", proc.stderr.rstrip())
        try:
            with open(depfile) as f:
                deps = _parse_depfile(f.read())
        except OSError:
            deps = []
        dep_records = []
        for dep in deps:
            dpath = os.path.abspath(os.path.join(src_path.parent, dep))
            if dpath == str(src_path):
                continue
            try:
                dst = os.stat(dpath)
            except OSError:
                continue
            dep_records.append([dpath, dst.st_size, dst.st_mtime_ns, _file_hash(dpath)])
        os.chmod(tmp_obj, 0o644)
        os.replace(tmp_obj, cached)
        _atomic_write(record_path, json.dumps({
            "key": key, "source": str(src_path), "command": cmd,
            "compiler": [compiler, cst.st_size, cst.st_mtime_ns],
            "deps": dep_records}).encode())
    finally:
        _unlink(tmp_obj)
        _unlink(depfile)
    return _deliver(cached, out)


def _deliver(cached: Path, out: str | os.PathLike[str] | None) -> Path:
    if out is None:
        return cached
    given = Path(os.fspath(out))
    dest = Path(os.path.abspath(given))
    dest.parent.mkdir(parents=True, exist_ok=True)
    _atomic_copy(cached, dest)
    return given
