"""Static linking of BPF object files (libbpf's ``bpf_linker``, as ``bpftool gen object``).

    with Linker("app.bpf.o") as linker:
        linker.add("main.bpf.o").add("helpers.bpf.o")
        linker.finalize()

or ``link("app.bpf.o", ["main.bpf.o", "helpers.bpf.o"])``, or ``libbpfpy link OUT IN...``.
Inputs are files, bytes or open fds; the output a path (or an fd).  Functions and maps
declared ``extern`` in one input are resolved against another's, ``.maps``, ``.BTF``
and ``.BTF.ext`` are merged, so the result opens and loads as one object.

The output is written to a new file beside its final name (created with O_EXCL and
O_NOFOLLOW through the directory's fd) and renamed into place by :meth:`finalize`, so
a failed link leaves nothing behind and never writes through a symlink.  Inputs are
checked to be 64-bit BPF relocatable ELF files before libbpf reads them.

Requires libbpf >= 0.4; fds and buffers use libbpf >= 1.6's ``bpf_linker__new_fd``,
``add_fd`` and ``add_buf`` where present, and otherwise go through
``/proc/self/fd`` (with a memfd for a buffer), so every libbpf links them.
"""
from __future__ import annotations

import ctypes
import errno
import os
import secrets
import struct
from collections.abc import Iterable
from typing import Any

from ._lifetime import Owner
from ._raw import capture_log, lib, opts
from .errors import BPFError, error_for, strerror

__all__ = ["Linker", "link"]

_EM_BPF = 247
_ET_REL = 1


def check_bpf_elf(head: bytes, what: str) -> None:
    """Refuse what is not a 64-bit BPF relocatable ELF file (``.bpf.o``) before libbpf's
    linker parses it."""
    if len(head) < 64 or head[:4] != b"\x7fELF":
        raise BPFError(errno.EINVAL, f"{what} is not an ELF file", call="bpf_linker__add",
                       target=what)
    if head[4] != 2 or head[5] not in (1, 2):
        raise BPFError(errno.EINVAL, f"{what} is not a 64-bit ELF file with a known byte "
                       "order", call="bpf_linker__add", target=what)
    e_type, e_machine = struct.unpack_from("<HH" if head[5] == 1 else ">HH", head, 16)
    if e_machine != _EM_BPF or e_type != _ET_REL:
        raise BPFError(errno.EINVAL, f"{what} is not a BPF object file (ELF machine "
                       f"{e_machine}, type {e_type}; want BPF relocatable: clang -target bpf "
                       "-c)", call="bpf_linker__add", target=what)


class Linker(Owner):
    """A link in progress: :meth:`add` inputs, then :meth:`finalize` writes the output.

    Closing without finalizing (or leaving ``with`` on an exception) discards it."""

    _kind = "linker"

    def __init__(self, output: str | os.PathLike[str] | int) -> None:
        super().__init__()
        self._dir_fd: int | None = None
        self._tmp_name: str | None = None
        self._final_name: str | None = None
        self._out_fd: int | None = None
        self._finalized = False
        if isinstance(output, int):
            self._describe_out = f"fd {output}"
            fd = output
        else:
            path = os.fspath(output)
            self._describe_out = path
            fd = self._create_beside(path)
        o = opts("bpf_linker_opts")
        with capture_log() as lines:
            if lib.has("bpf_linker__new_fd"):
                ptr = lib.bpf_linker__new_fd(fd, ctypes.byref(o))
            else:  # libbpf < 1.6: reopen the same file by its /proc name
                ptr = lib.bpf_linker__new(f"/proc/self/fd/{fd}".encode(), ctypes.byref(o))
        if not ptr:
            err = ctypes.get_errno() or errno.EINVAL
            self._discard()
            raise error_for(err, f"bpf_linker__new() for {self._describe_out} failed: "
                            f"{_reason(lines) or strerror(err)}", call="bpf_linker__new",
                            target=self._describe_out)
        self._ptr = ptr
        self._arm(lib.bpf_linker__free, ptr)

    def _create_beside(self, path: str) -> int:
        directory, name = os.path.split(os.path.abspath(path))
        self._dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._final_name = name
        self._tmp_name = f".{name}.{secrets.token_hex(6)}.tmp"
        self._out_fd = os.open(self._tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                               os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=self._dir_fd)
        return self._out_fd

    def _describe(self) -> str:
        return f"linker of {self._describe_out}"

    def _discard(self) -> None:
        if self._out_fd is not None:
            os.close(self._out_fd)
            self._out_fd = None
        if self._tmp_name is not None and self._dir_fd is not None:
            try:
                os.unlink(self._tmp_name, dir_fd=self._dir_fd)
            except FileNotFoundError:
                pass
            self._tmp_name = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def _release(self) -> None:
        lib.bpf_linker__free(self._ptr)
        self._discard()

    def add(self, source: str | os.PathLike[str] | bytes | bytearray | memoryview | int
            ) -> Linker:
        """Add an input: a ``.bpf.o`` path, its bytes, or an open fd of it; returns self."""
        self._check()
        if self._finalized:
            raise BPFError(errno.EINVAL, f"{self._describe()}: already finalized",
                           call="bpf_linker__add_file")
        o = opts("bpf_linker_file_opts")
        keep: object = None
        args: tuple[Any, ...]
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            what = f"<{len(data)} bytes>"
            check_bpf_elf(data[:64], what)
            if lib.has("bpf_linker__add_buf"):
                buf = ctypes.create_string_buffer(data, len(data))
                call, args = "bpf_linker__add_buf", (buf, len(data))
            else:
                keep = memfd = os.memfd_create("libbpfpy-link", os.MFD_CLOEXEC)
                os.write(memfd, data)
                call, args = "bpf_linker__add_file", (f"/proc/self/fd/{memfd}".encode(),)
        elif isinstance(source, int):
            what = f"fd {source}"
            check_bpf_elf(os.pread(source, 64, 0), what)
            if lib.has("bpf_linker__add_fd"):
                call, args = "bpf_linker__add_fd", (source,)
            else:
                call, args = "bpf_linker__add_file", (f"/proc/self/fd/{source}".encode(),)
        else:
            what = os.fspath(source)
            try:
                with open(what, "rb") as f:
                    head = f.read(64)
            except OSError as exc:
                raise BPFError(exc.errno or errno.ENOENT, f"cannot read {what}: "
                               f"{exc.strerror}", call="open", target=what) from None
            check_bpf_elf(head, what)
            call, args = "bpf_linker__add_file", (os.fsencode(what),)
        try:
            with capture_log() as lines:
                ret = getattr(lib, call)(self._ptr, *args, ctypes.byref(o))
        finally:
            if isinstance(keep, int):
                os.close(keep)
        if ret < 0:
            raise error_for(-ret, f"{call}() of {what} into {self._describe_out} failed: "
                            f"{_reason(lines) or strerror(-ret)}", call=call, target=what)
        return self

    def finalize(self) -> None:
        """Resolve the externs, write the output and (for a path) move it into place;
        the linker is closed afterwards."""
        self._check()
        with capture_log() as lines:
            ret = lib.bpf_linker__finalize(self._ptr)
        if ret < 0:
            raise error_for(-ret, f"bpf_linker__finalize() of {self._describe_out} "
                            f"failed: {_reason(lines) or strerror(-ret)}",
                            call="bpf_linker__finalize", target=self._describe_out)
        self._finalized = True
        if self._tmp_name is not None and self._dir_fd is not None:
            assert self._final_name is not None and self._out_fd is not None
            os.fsync(self._out_fd)
            os.replace(self._tmp_name, self._final_name, src_dir_fd=self._dir_fd,
                       dst_dir_fd=self._dir_fd)
            self._tmp_name = None
        self.close()

    def __exit__(self, *exc: object) -> None:
        self.close()


def link(output: str | os.PathLike[str],
         inputs: Iterable[str | os.PathLike[str] | bytes | int]) -> None:
    """Link ``inputs`` (paths, bytes or fds of ``.bpf.o`` files) into ``output``."""
    with Linker(output) as linker:
        for source in inputs:
            linker.add(source)
        linker.finalize()


def _reason(lines: list[str]) -> str:
    for line in reversed("".join(lines).splitlines()):
        line = line.strip()
        if line:
            return line.removeprefix("libbpf: ")
    return ""
