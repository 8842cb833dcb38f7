"""Input checks: BPF object files and BTF blobs are checked in Python before libbpf
reads them, and files are read only when they are regular files.

libbpf 1.1 crashes on some malformed objects and BTF (an out-of-range type id, a
string offset past its table, a type cycle); :func:`check_object` and
:func:`check_btf` refuse such input with a :class:`~libbpfpy.errors.FormatError`
that names the part at fault.  :func:`read_input` reads a file that libbpfpy will
hand to libbpf: a FIFO, a device or a directory is refused instead of blocking or
reading forever, and the bytes checked are the bytes loaded (the file is read
once).
"""
from __future__ import annotations

import errno
import io
import os
import stat

from ..errors import BPFError, FormatError
from .btf import Base, CheckedBTF, check_btf
from .object import check_object

__all__ = ["check_object", "check_btf", "read_input", "raw_btf", "check_btf_file", "memfd",
           "CheckedBTF", "Base", "MAX_INPUT"]

#: The largest object or BTF file read (a vmlinux BTF is ~6 MB, objects far less).
MAX_INPUT = 1 << 30


def read_input(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The contents of the regular file at ``path`` (symlinks followed).

    Opened non-blocking, so a FIFO cannot stall the open; anything but a regular
    file is refused with :class:`~libbpfpy.errors.BPFError` (``EINVAL``); a missing
    file is ``FileNotFoundError``."""
    p = os.fspath(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{what} not found", p) from None
    except OSError as exc:
        raise BPFError(exc.errno or errno.EIO, f"cannot open {what} {p}: {exc.strerror}",
                       call="open", target=p) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise BPFError(errno.EINVAL, f"{p} is {kind}, not a regular file: refusing to "
                           f"read it as a {what}", call="open", target=p)
        if st.st_size > MAX_INPUT:
            raise BPFError(errno.EFBIG, f"{p} is {st.st_size} bytes: too large for a {what}",
                           call="read", target=p)
        chunks = []
        left = st.st_size + 1  # also notice a file that grows while read
        while left > 0:
            try:
                chunk = os.read(fd, min(left, 1 << 24))
            except OSError as exc:
                raise BPFError(exc.errno or errno.EIO, f"reading {p}: {exc.strerror}",
                               call="read", target=p) from None
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)[:MAX_INPUT]
    finally:
        os.close(fd)


def raw_btf(data: bytes, source: str) -> bytes:
    """The raw BTF in ``data``: the ``.BTF`` section of an ELF file, or ``data``
    itself (what ``btf__parse`` accepts)."""
    if data[:4] != b"\x7fELF":
        return data
    from .._raw._elf import SHT_PROGBITS, ELFFile
    elf = ELFFile(data, source)
    sec = elf.by_name(b".BTF")
    if sec is None or sec.type != SHT_PROGBITS:
        raise FormatError(source, "", "ELF file without a .BTF section")
    return elf.contents(sec)


def check_btf_file(path: str | os.PathLike[str]) -> io.FileIO:
    """Read and check the BTF file at ``path`` (raw or ELF); return an anonymous
    in-memory file (memfd) holding the checked raw BTF, for libbpf to read through
    ``/proc/self/fd/N`` -- the bytes checked are the bytes it gets."""
    p = os.fspath(path)
    data = raw_btf(read_input(p, "BTF file"), p)
    check_btf(data, p)
    return memfd(data)


def memfd(data: bytes) -> io.FileIO:
    """An anonymous in-memory file holding ``data`` (libbpf reads it by the path
    ``/proc/self/fd/N``)."""
    fd = os.memfd_create("libbpfpy-btf", os.MFD_CLOEXEC)
    f = io.FileIO(fd, "r+")
    try:
        f.write(data)
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return f
