"""BPF Type Format: the types of kernels and BPF objects (libbpf's ``struct btf``).

(Minimal first cut: vmlinux loading and C header generation.  Extended by the BTF
issue with type iteration, ctypes/numpy types and typed map codecs.)
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

from ._lifetime import Owner
from ._raw import CALLBACKS, check_ptr, lib, libc, opts

__all__ = ["BTF"]

_VMLINUX_HEADER = """\
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

"""
_VMLINUX_FOOTER = """
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""


class BTF(Owner):
    """A set of BTF types: a kernel's, a module's or an object's."""

    _kind = "btf"

    def __init__(self, ptr: int, *, owner: Any = None, name: str = "btf") -> None:
        super().__init__()
        self._ptr = ptr
        self._owner = owner
        self._name = name
        if owner is None:
            self._arm(lib.btf__free, ptr)

    @classmethod
    def _borrowed(cls, ptr: int, owner: Any) -> BTF:
        btf = cls(ptr, owner=owner, name=f"btf of {owner._describe()}")
        owner._adopt(btf)
        return btf

    def _release(self) -> None:
        if self._owner is None:
            lib.btf__free(self._ptr)
        self._ptr = None

    @classmethod
    def vmlinux(cls) -> BTF:
        """The running kernel's BTF (``/sys/kernel/btf/vmlinux``)."""
        ptr = check_ptr(lib.btf__load_vmlinux_btf(), "btf__load_vmlinux_btf", "vmlinux")
        return cls(ptr, name="vmlinux")

    def __len__(self) -> int:
        self._check()
        return int(lib.btf__type_cnt(self._ptr)) - 1

    def dump_c(self, path: str | os.PathLike[str]) -> None:
        """Write every type as C declarations to ``path`` (a vmlinux.h for BPF C)."""
        self._check()
        # btf_dump's printf callback has vfprintf's ABI (context pointer, format,
        # va_list), so libc's vfprintf is passed directly with a FILE* as context:
        # the dump then runs entirely in C.
        fopen = libc.fopen
        fopen.restype = ctypes.c_void_p
        fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        fclose = libc.fclose
        fclose.argtypes = [ctypes.c_void_p]
        fputs = libc.fputs
        fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        fp = fopen(os.fsencode(os.fspath(path)), b"w")
        if not fp:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), os.fspath(path))
        try:
            printer = ctypes.cast(libc.vfprintf, CALLBACKS["btf_dump_printf_fn_t"])
            o = opts("btf_dump_opts")
            d = check_ptr(lib.btf_dump__new(self._ptr, printer, fp, ctypes.byref(o)),
                          "btf_dump__new", self._name)
            try:
                fputs(_VMLINUX_HEADER.encode(), fp)
                for type_id in range(1, len(self) + 1):
                    lib.btf_dump__dump_type(d, type_id)
                fputs(_VMLINUX_FOOTER.encode(), fp)
            finally:
                lib.btf_dump__free(d)
        finally:
            fclose(fp)
