"""Addresses to names: kernel addresses through ``/proc/kallsyms``, user-space
addresses through a process's memory map and the ELF symbols of the mapped files.

    kernel = KernelSymbols()
    kernel.resolve(0xffffffff81234567)      # Symbol("do_syscall_64", 0x57, None)
    user = ProcessSymbols(pid)              # snapshot of /proc/PID/maps
    user.resolve(ip)                        # Symbol("spin", 0x2a, "target")

What BPF stack traces (``bpf_get_stackid``, ``bpf_get_stack``) hold are such
addresses.  Symbols come from each file's ``.symtab`` (where not stripped) and
``.dynsym``; there is no DWARF, demangling or debuginfod here.  Reading kernel
addresses needs root where ``kernel.kptr_restrict`` hides them (all zero).
"""
from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

__all__ = ["Symbol", "KernelSymbols", "ElfSymbols", "ProcessSymbols"]


@dataclass(frozen=True)
class Symbol:
    """A function, the offset of an address in it, and the module or file holding
    it (None for the kernel proper)."""

    name: str
    offset: int
    module: str | None = None

    def __str__(self) -> str:
        where = f" [{self.module}]" if self.module else ""
        return f"{self.name}+{self.offset:#x}{where}"


class _Sorted:
    """Functions sorted by start address; an address belongs to the last function
    starting at or below it (and within its size, where the size is known)."""

    def __init__(self, entries: list[tuple[int, int, str]]) -> None:
        entries.sort()
        self._starts = [e[0] for e in entries]
        self._entries = entries

    def find(self, addr: int) -> tuple[str, int] | None:
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        start, size, name = self._entries[i]
        if size and addr >= start + size:
            return None
        return name, addr - start


class KernelSymbols:
    """The running kernel's text symbols, from ``/proc/kallsyms``."""

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        entries: list[tuple[int, int, str]] = []
        self._modules: dict[str, str] = {}
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in "tTwW":
                    continue
                addr = int(parts[0], 16)
                if addr:
                    entries.append((addr, 0, parts[2]))
                    if len(parts) > 3:
                        self._modules[parts[2]] = parts[3].strip("[]")
        if not entries:
            raise PermissionError(f"{path} shows no addresses (kernel.kptr_restrict hides "
                                  "them: read it as root)")
        self._table = _Sorted(entries)

    def resolve(self, addr: int) -> Symbol | None:
        """The kernel function holding ``addr``, or None below the first symbol."""
        found = self._table.find(addr)
        if found is None:
            return None
        return Symbol(found[0], found[1], self._modules.get(found[0]))


class ElfSymbols:
    """The functions of one ELF file, by virtual address as the file lays them out."""

    def __init__(self, path: str) -> None:
        from ._raw._elf import function_symbols, load_segments
        self.path = path
        self._table = _Sorted(function_symbols(path))
        self._segments = load_segments(path)

    def resolve(self, vaddr: int) -> tuple[str, int] | None:
        """(function, offset) at the file's virtual address ``vaddr``."""
        return self._table.find(vaddr)

    def file_offset_to_vaddr(self, offset: int) -> int | None:
        """The virtual address at which the byte at file ``offset`` is loaded."""
        for off, vaddr, size in self._segments:
            if off <= offset < off + size:
                return vaddr + offset - off
        return None


class ProcessSymbols:
    """A process's executable mappings (read from ``/proc/PID/maps`` now: take it
    while the process lives) and the symbols of the files behind them."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._maps: list[tuple[int, int, int, str]] = []   # start, end, offset, path
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6 or "x" not in parts[1] or not parts[5].startswith("/"):
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                self._maps.append((start, end, int(parts[2], 16), parts[5].strip()))
        self._files: dict[str, ElfSymbols | None] = {}

    def _elf(self, path: str) -> ElfSymbols | None:
        if path not in self._files:
            try:
                # Through the process's root, so that a file in a container resolves.
                self._files[path] = ElfSymbols(f"/proc/{self.pid}/root{path}")
            except (OSError, ValueError):
                try:
                    self._files[path] = ElfSymbols(path)
                except (OSError, ValueError):
                    self._files[path] = None
        return self._files[path]

    def resolve(self, addr: int) -> Symbol | None:
        """The function holding user-space address ``addr``, or None."""
        for start, end, offset, path in self._maps:
            if start <= addr < end:
                elf = self._elf(path)
                if elf is None:
                    return None
                vaddr = elf.file_offset_to_vaddr(addr - start + offset)
                found = elf.resolve(vaddr) if vaddr is not None else None
                if found is None:
                    return None
                return Symbol(found[0], found[1], os.path.basename(path))
        return None
