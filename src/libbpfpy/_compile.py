"""Compiling BPF C: ``libbpfpy.compile()`` and the generated ``vmlinux.h``.

    path = libbpfpy.compile("prog.bpf.c")          # cached object file
    with Object.open(path) as obj: ...

clang is run as ``clang -g -O2 -target bpf -D__TARGET_ARCH_<arch> -fms-extensions``
(see :data:`VMLINUX_CFLAGS`) with libbpf's
headers and a ``vmlinux.h`` generated from the running kernel's BTF (no bpftool).

Both are cached in a private directory: ``/var/cache/libbpfpy`` for root,
``$XDG_CACHE_HOME/libbpfpy`` (``~/.cache/libbpfpy``) otherwise, or
``$LIBBPFPY_CACHE_DIR`` (see :mod:`._cache`): owned by the caller, not writable by
group or others; files written to a temporary name and renamed into place, never
through symlinks.

Objects are cached by a hash of the source, the flags, the clang asked for and the
kernel; the headers the source included (clang's ``-MD`` list) are recorded with
their hashes, so editing one recompiles, and so is the clang binary that compiled
it, so upgrading clang recompiles while a cache hit on a machine without clang
still works: looking the object up never needs the compiler.  ``vmlinux.h`` is cached per
kernel build id (``/sys/kernel/notes``), falling back to a hash of the kernel's BTF.

The cache is reached through directory fds, every directory on its path checked
(see :class:`._cache.Dir`); clang reads the header from and writes the object into the
checked directories through ``/proc/self/fd``; files are written whole (temporary
name, ``O_EXCL|O_NOFOLLOW``, fsync, rename), a cached header is used only if
complete, and a header that breaks a compile or an object that fails
:func:`libbpfpy.validate.check_object` is evicted.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import _cache
from .errors import BPFError, CompileError

# subprocess, tempfile, shlex and sysconfig are imported where a compilation (or a
# vmlinux.h) is actually produced: a cache hit, the common case at a tool's start,
# needs none of them.

__all__ = ["compile", "compile_bytes", "vmlinux_header", "cache_dir", "target_arch",
           "kernel_build_id"]

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


#: libbpfpy's own BPF headers (``#include <libbpfpy/ringbuf.h>``), on every compile's
#: include path.
INCLUDE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def target_arch(machine: str | None = None) -> str:
    """The ``__TARGET_ARCH_<arch>`` name libbpf's headers use for this machine."""
    m = machine or os.uname().machine
    return _ARCHES.get(m, m)


# -- the cache directory (see ._cache) -------------------------------------------------

def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory (created 0700 if missing), after checking that it is a real
    directory owned by the caller, not writable by group or others, and reached
    through directories no other user can change (see :class:`._cache.Dir`)."""
    return Path(_cache.cache_dir(path))


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

    The header is written whole or not at all (a full disk raises and leaves no
    truncated header), and a cached header is used only if it is complete.
    Requires Linux >= 5.4 built with CONFIG_DEBUG_INFO_BTF."""
    with _cache.Dir.root(cache) as root, _header_dir(root) as d:
        return Path(d.path, "vmlinux.h")


def _header_dir(root: _cache.Dir) -> _cache.Dir:
    """The directory holding this kernel's complete vmlinux.h (generated if needed)."""
    with root.sub("vmlinux") as vm:
        d = vm.sub(_kernel_key())
    try:
        if not _complete_header(d.read("vmlinux.h")):
            from .btf import BTF
            with BTF.vmlinux() as btf:
                text = btf.to_c().encode()
            if not _complete_header(text):
                raise BPFError(errno.EIO, "generating vmlinux.h gave an incomplete header",
                               call="btf_dump")
            d.write("vmlinux.h", text)
            log.info("generated %s", os.path.join(d.path, "vmlinux.h"))
    except BaseException:
        d.close()
        raise
    return d


def _complete_header(text: bytes | None) -> bool:
    """Whether ``text`` is a whole generated vmlinux.h (it ends with the guard)."""
    return text is not None and text.rstrip().endswith(b"#endif /* __VMLINUX_H__ */")


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
    (or of ``vmlinux``, a header of your own), libbpf's headers and libbpfpy's own
    (``<libbpfpy/ringbuf.h>``).  The object is copied to ``out`` and ``out`` is
    returned as given, if given; else the cached object's path is returned (named
    after the source: ``prog.<hash>.o`` for ``prog.bpf.c``, so libbpf calls the
    object ``prog``).  An unchanged source (same flags, same included headers, same
    kernel) is not compiled again unless ``cache=False``, and such a cache hit does
    not need clang at all: the object is recompiled only when the clang that made it
    changed, not when it is gone.  ``clang`` overrides the compiler (also
    ``$LIBBPFPY_CLANG``); ``cache_path`` the cache directory.  See
    :func:`compile_bytes` for the object's bytes, read through the checked cache
    directory.

    Raises :class:`~libbpfpy.CompileError` with clang's diagnostics when it fails.
    """
    path, _data = _compile(src, out, cflags=cflags, include_dirs=include_dirs, cache=cache,
                           cache_path=cache_path, clang=clang, vmlinux=vmlinux)
    return path


def compile_bytes(src: str | os.PathLike[str], **options: Any) -> bytes:
    """Like :func:`compile` (same options, no ``out``), returning the object's bytes as
    read through the cache directory's checked fd -- for ``Object.open(bytes)``, so
    that no path is opened again between the checks and the load."""
    return _compile(src, None, **options)[1]


def _compile(src: str | os.PathLike[str], out: str | os.PathLike[str] | None, *,
             cflags: Sequence[str] = (), include_dirs: Iterable[str | os.PathLike[str]] = (),
             cache: bool = True, cache_path: str | os.PathLike[str] | None = None,
             clang: str | os.PathLike[str] | None = None,
             vmlinux: str | os.PathLike[str] | None = None) -> tuple[Path, bytes]:
    from .validate import read_input
    src_path = Path(os.path.abspath(os.fspath(src)))
    source = read_input(src_path, "BPF source")
    requested = os.fspath(clang) if clang is not None else os.environ.get("LIBBPFPY_CLANG")
    with _cache.Dir.root(cache_path) as root, root.sub("objects") as objects:
        if vmlinux is not None:
            vmlinux_dir = os.path.dirname(os.path.abspath(os.fspath(vmlinux)))
            vm_ident = _file_hash(os.fspath(vmlinux)) or "missing"
        else:
            # Only the kernel's identity goes into the key; the header itself is
            # generated when clang is about to need it.
            vm_ident = _kernel_key()
            vmlinux_dir = os.path.join(root.path, "vmlinux", vm_ident)
        argv = _clang_args(cflags, include_dirs, vmlinux_dir)
        key_text = json.dumps([_FORMAT, requested or "", argv, str(src_path),
                               hashlib.sha256(source).hexdigest(), vm_ident])
        key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
        name = f"{_stem(src_path)}.{key}"
        data = _cached(objects, name, key) if cache else None
        if data is not None:
            log.debug("compile cache hit for %s: %s", src_path,
                      os.path.join(objects.path, name))
        else:
            compiler = _find_clang(requested)
            header_dir = _header_dir(root) if vmlinux is None else None
            try:
                if header_dir is not None and header_dir.path != vmlinux_dir:
                    raise CompileError(f"the kernel's identity changed while compiling "
                                       f"{src_path}; try again", diagnostics="",
                                       returncode=1)
                data = _run_clang(compiler, argv, src_path, objects, name, key, header_dir)
            finally:
                if header_dir is not None:
                    header_dir.close()
        cached = Path(objects.path, f"{name}.o")
    if out is None:
        return cached, data
    from ._files import atomic_write
    given = Path(os.fspath(out))
    dest = Path(os.path.abspath(given))
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, data, mode=0o644)
    return given, data


def _clang_args(cflags: Sequence[str], include_dirs: Iterable[str | os.PathLike[str]],
                vmlinux_dir: str) -> list[str]:
    incs = [os.path.abspath(os.fspath(d)) for d in include_dirs] + [INCLUDE_DIR]
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
    return argv


def _cached(objects: _cache.Dir, name: str, key: str) -> bytes | None:
    """The cached object ``name`` when its record matches ``key``, its headers and
    compiler are unchanged and it is still a well-formed object (else evicted)."""
    raw = objects.read(f"{name}.json")
    data = objects.read(f"{name}.o")
    if raw is None or data is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        record = {}
    if not isinstance(record, dict) or record.get("key") != key or \
            not _deps_fresh(record) or not _compiler_fresh(record):
        return None
    from .errors import FormatError
    from .validate import check_object
    try:
        check_object(data, os.path.join(objects.path, f"{name}.o"))
    except FormatError as exc:
        log.warning("evicting a damaged cached object: %s", exc)
        objects.unlink(f"{name}.o")
        objects.unlink(f"{name}.json")
        return None
    return data


def _run_clang(compiler: str, argv: list[str], src_path: Path, objects: _cache.Dir, name: str,
               key: str, header_dir: _cache.Dir | None) -> bytes:
    import shlex
    import subprocess
    tmp = f".{key}.{os.urandom(6).hex()}.o.tmp"
    depfile = tmp + ".d"
    # clang writes into the checked cache directory through our fd (and reads the
    # header from its checked directory the same way): renaming directories on the
    # paths meanwhile changes nothing.
    fds = [objects.fd] + ([header_dir.fd] if header_dir is not None else [])
    run_argv = list(argv)
    if header_dir is not None:
        run_argv = [a if a != f"-I{header_dir.path}" else f"-I{header_dir.proc_path()}"
                    for a in run_argv]
    cmd = [compiler, *run_argv, "-MD", "-MF", objects.proc_path(depfile), "-c",
           str(src_path), "-o", objects.proc_path(tmp)]
    log.info("compiling %s: %s", src_path, shlex.join(cmd))
    cst = os.stat(compiler)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=src_path.parent,
                              pass_fds=fds)
        if proc.returncode != 0:
            note = ""
            if header_dir is not None and "vmlinux.h:" in proc.stderr:
                # A header that breaks the compile is not served again: the next
                # compile generates a fresh one.
                header_dir.unlink("vmlinux.h")
                note = " (the cached vmlinux.h it complained about was removed)"
            raise CompileError(f"clang failed to compile {src_path} "
                               f"(exit status {proc.returncode}){note}",
                               diagnostics=proc.stderr, returncode=proc.returncode)
        if proc.stderr:
            log.warning("clang: %s", proc.stderr.rstrip())
        data = objects.read(tmp)
        if data is None:
            raise CompileError(f"clang wrote no object for {src_path}", diagnostics="",
                               returncode=0)
        deps = _parse_depfile((objects.read(depfile) or b"").decode("utf-8", "replace"))
        dep_records = []
        for dep in deps:
            dpath = os.path.abspath(os.path.join(src_path.parent, dep))
            if dpath == str(src_path) or dpath.startswith("/proc/self/fd/"):
                continue   # the source is hashed; the header is in the key
            try:
                dst = os.stat(dpath)
            except OSError:
                continue
            dep_records.append([dpath, dst.st_size, dst.st_mtime_ns, _file_hash(dpath)])
        objects.write(f"{name}.o", data)
        objects.write(f"{name}.json", json.dumps({
            "key": key, "source": str(src_path), "command": cmd,
            "compiler": [compiler, cst.st_size, cst.st_mtime_ns],
            "deps": dep_records}).encode())
        return data
    finally:
        objects.unlink(tmp)
        objects.unlink(depfile)
