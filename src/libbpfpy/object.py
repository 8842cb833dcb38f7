"""BPF object files (libbpf's ``struct bpf_object``): open, load, attach, close.

    with Object.open("mmapsnoop.bpf.o") as obj:
        obj.load()
        obj.attach()
        ...

An :class:`Object` owns everything made from it: its programs and maps are views
that raise :class:`ClosedError` once it is closed, and links attached from its
programs and buffers over its maps are closed first when it closes.
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from . import _args
from ._caps import has_bpf_privileges
from ._lifetime import Owner, guarded
from ._raw import capture_log, check_int, lib, opts, raise_pending, unchecked, version_tuple
from .enums import MapType
from .errors import BPFError, NotSupportedError, VerifierError, error_for, strerror
from .link import Link
from .map import Map
from .program import Program

__all__ = ["Object"]

V = TypeVar("V")

# Parsing libbpf's messages after a failed load (compiled then, not at every start).
_UNRESOLVED_KCONFIG = r"extern '(CONFIG_\w+)' \(strong\): not resolved"


def kernel_config_source() -> str | None:
    """Where libbpf finds the running kernel's configuration for ``__kconfig``
    externs (``/boot/config-<release>``, else ``/proc/config.gz``), or None."""
    for path in (f"/boot/config-{os.uname().release}", "/proc/config.gz"):
        try:
            with open(path, "rb") as f:
                if f.read(2):
                    return path
        except OSError:
            continue
    return None


_LOG_BLOCK = r"prog '([^']+)': -- BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG --"
_FAILED_PROG = r"prog '([^']+)': (?:BPF program load failed|failed to load)"
# Older libbpf says "Invalid argument(-22)", newer (1.6+) "-EINVAL".
_FAILED_MAP = r"map '([^']+)': failed to create: (?:.*?\((-?\d+)\)|-(E[A-Z0-9]+))"


class _Named(Mapping[str, V]):
    """Read-only mapping by name, in object order; ``aliases`` are other names that
    find an item without being listed."""

    def __init__(self, items: dict[str, V], kind: str, owner: Object,
                 aliases: dict[str, str] | None = None) -> None:
        self._items = items
        self._kind = kind
        self._owner = owner
        self._aliases = aliases or {}

    def __getitem__(self, name: str) -> V:
        self._owner._check_open(f"{self._kind} {name!r}")
        try:
            return self._items[self._aliases.get(name, name)]
        except KeyError:
            names = ", ".join(self._items) or "none"
            raise KeyError(f"object {self._owner.name!r} has no {self._kind} {name!r} "
                           f"(it has: {names})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<{self._kind}s of {self._owner.name!r}: {', '.join(self._items)}>"


def _section_of(obj_ptr: int, map_ptr: int, name: str) -> str | None:
    """The ELF section behind one of libbpf's global-data maps (``.rodata`` for the
    map libbpf names ``prog.rodata`` after the object), or None for other maps.

    libbpf prefixes such a map's name with (up to 8 characters of) the object's
    name; its section name finds the same map, which is checked here."""
    if not lib.bpf_map__is_internal(map_ptr):
        return None
    dot = name.find(".")
    if dot < 0:
        return None
    section = name[dot:]
    found = lib.bpf_object__find_map_by_name(obj_ptr, section.encode())
    return section if found == map_ptr else None


# libbpf < 1.6 frees the kernel BTF that bpf_program__set_attach_target() loads into
# an object (vmlinux's, parsed, several MB; with a target not in vmlinux, every
# module's, each an open fd) only at the end of bpf_object__load(): closing an object
# that was never loaded leaves them behind.  libbpf 1.6 frees them in close as well.
_CLOSE_FREES_KERNEL_BTF = version_tuple >= (1, 6)


def _drop_kernel_btf(ptr: int) -> None:
    """Have an old libbpf free the kernel BTF an unloaded object holds.

    Its only code that does is the end of bpf_object__load(), which runs whether the
    load succeeds or fails; with every program's autoload and every map's autocreate
    off, that load loads and creates nothing (what it checks on the way -- loading
    works, the object's own BTF -- is released by the close that follows).  A Ctrl-C
    meanwhile is kept for after the close."""
    p = unchecked(lib.bpf_object__next_program)(ptr, None)
    while p:
        unchecked(lib.bpf_program__set_autoload)(p, False)
        p = unchecked(lib.bpf_object__next_program)(ptr, p)
    m = unchecked(lib.bpf_object__next_map)(ptr, None)
    while m:
        unchecked(lib.bpf_map__set_autocreate)(m, False)
        m = unchecked(lib.bpf_object__next_map)(ptr, m)
    with capture_log(quiet=True, raise_pending=False):
        unchecked(lib.bpf_object__load)(ptr)


def _close_object(ptr: int, holds_kernel_btf: list[bool]) -> None:
    """bpf_object__close(), first freeing what an old libbpf's close would leave."""
    if holds_kernel_btf[0]:
        _drop_kernel_btf(ptr)
    lib.bpf_object__close(ptr)


@guarded()
class Object(Owner):
    """A BPF object file opened through libbpf."""

    _kind = "object"

    def __init__(self, ptr: int, *, keep: list[Any], source: str) -> None:
        super().__init__()
        self._ptr = ptr
        self._keep = keep           # buffers libbpf may point into until close
        self._source = source
        self._mem_path = ""         # libbpf's name for the buffer, in its messages
        self._loaded = False
        self._load_failed = False
        self._prepared = False
        # True while libbpf holds kernel BTF that its close would not free (shared
        # with the finalizer, which closes the object if close() is never called)
        self._holds_kernel_btf = [False]
        self._arm(_close_object, ptr, self._holds_kernel_btf)
        self.name = "?"
        self._globals: Any = None
        self._btf: Any = None
        try:
            self.name = lib.bpf_object__name(ptr).decode()
            progs: dict[str, Program] = {}
            p = lib.bpf_object__next_program(ptr, None)
            while p:
                prog = Program(self, p)
                progs[prog.name] = prog
                p = lib.bpf_object__next_program(ptr, p)
            maps: dict[str, Map] = {}
            sections: dict[str, str] = {}
            m = lib.bpf_object__next_map(ptr, None)
            while m:
                mp = Map(self, m)
                maps[mp.name] = mp
                section = _section_of(ptr, m, mp.name)
                if section and section != mp.name:
                    sections[section] = mp.name
                m = lib.bpf_object__next_map(ptr, m)
            self._programs = _Named(progs, "program", self)
            self._maps = _Named(maps, "map", self, sections)
        except BaseException:   # a Ctrl-C meanwhile: closed here, not by the GC
            self._programs = _Named({}, "program", self)
            self._maps = _Named({}, "map", self)
            self.close()
            raise

    # -- construction ---------------------------------------------------------------
    @classmethod
    def open(cls, source: str | os.PathLike[str] | bytes | bytearray | memoryview, *,
             name: str | None = None, kconfig: str | None = None,
             btf_custom_path: str | os.PathLike[str] | None = None,
             pin_root_path: str | os.PathLike[str] | None = None,
             kernel_log_level: int = 0, relaxed_maps: bool = False,
             token_path: str | os.PathLike[str] | None = None) -> Object:
        """Open a BPF object from a file path or from its bytes (nothing is loaded yet).

        ``kconfig`` supplies ``CONFIG_*`` values for ``extern`` Kconfig variables,
        ``btf_custom_path`` a kernel BTF to relocate against instead of the running
        kernel's, ``pin_root_path`` where maps with ``pinning`` are pinned.
        ``token_path``: a delegating bpffs (see :mod:`libbpfpy.token`) from which
        libbpf makes a BPF token for every map, program and BTF it loads, inside a
        user namespace (libbpf >= 1.4, Linux >= 6.9); ``""`` turns off libbpf's own
        attempt at ``/sys/fs/bpf``.

        The object (and a custom BTF) is read once, refused unless it is a regular
        file, and checked in Python before libbpf parses it: a malformed file raises
        :class:`~libbpfpy.errors.FormatError` naming what is wrong.
        """
        from .validate import check_btf_file, check_object, read_input
        kernel_log_level = _args.uint(kernel_log_level, "kernel_log_level")
        keep: list[Any] = []

        def c(value: str | os.PathLike[str] | None) -> bytes | None:
            if value is None:
                return None
            b = os.fsencode(os.fspath(value))
            keep.append(b)
            return b

        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            desc = name or f"<{len(data)} bytes>"
        else:
            path = os.fspath(source)
            desc = path
            data = read_input(path, "BPF object file")
            # libbpf's own name for an object file: its base name up to the first dot.
            name = name if name is not None else os.path.basename(path).split(".", 1)[0]
        check_object(data, desc)
        custom = None
        if btf_custom_path is not None:
            # libbpf reads this file at load: give it a private copy of the bytes
            # checked here (a memfd), not a path that could change meanwhile.
            custom = check_btf_file(btf_custom_path)
            keep.append(custom)
            btf_custom_path = f"/proc/self/fd/{custom.fileno()}"
        try:
            o = opts("bpf_object_open_opts", object_name=c(name), kconfig=c(kconfig),
                     btf_custom_path=c(btf_custom_path), pin_root_path=c(pin_root_path),
                     kernel_log_level=kernel_log_level, relaxed_maps=relaxed_maps,
                     bpf_token_path=c(token_path))
            keep.append(o)
            buf = ctypes.create_string_buffer(data, len(data))
            keep.append(buf)
            call = "bpf_object__open_mem"
            with capture_log(raise_pending=False) as lines:
                ptr = lib.bpf_object__open_mem(buf, len(data), ctypes.byref(o))
            if not ptr:
                err = ctypes.get_errno() or errno.EINVAL
                raise_pending()
                detail = _last_warning(lines).replace(_mem_path(buf, data), desc)
                raise error_for(err, f"{call}() could not open {desc}: "
                                f"{detail or strerror(err)}"
                                f" [errno {err}]", call=call, target=desc)
        except BaseException:
            if custom is not None:
                custom.close()
            raise
        obj = cls(ptr, keep=keep, source=desc)
        obj._mem_path = _mem_path(buf, data)
        raise_pending(obj.close)  # a Ctrl-C that came during the open
        return obj

    # -- state ----------------------------------------------------------------------------
    def _describe(self) -> str:
        return f"object {getattr(self, 'name', '?')!r}"

    def _check_open(self, what: str) -> None:
        if self._closed:
            from .errors import ClosedError
            raise ClosedError(f"{what} of {self._describe()}")

    def _release(self) -> None:
        _close_object(self._ptr, self._holds_kernel_btf)
        self._ptr = 0
        for kept in self._keep:
            if hasattr(kept, "close"):   # the memfd of a custom BTF
                kept.close()
        self._keep.clear()

    @property
    def loaded(self) -> bool:
        """Whether load() succeeded."""
        return self._loaded

    @property
    def _load_attempted(self) -> bool:
        # libbpf freezes an object's definition at its first load or prepare, failed
        # or not.
        return self._loaded or self._load_failed or self._prepared

    @property
    def _maps_created(self) -> bool:
        # After prepare() or load() the maps live in the kernel (libbpf's copies of
        # the global sections are then the maps' mmap'ed memory, .rodata read-only).
        return self._loaded or self._prepared

    @property
    def prepared(self) -> bool:
        """Whether :meth:`prepare` succeeded (maps created, programs not yet loaded)."""
        return self._prepared

    def prepare(self) -> Object:
        """Do everything :meth:`load` does short of loading the programs: create the
        maps, relocate the programs (CO-RE included); returns self.

        In between, map fds exist (fill them, pass them on), the programs'
        final instructions and their ``func_info()``/``line_info()`` can be read;
        :meth:`load` then loads the programs.  Setters are refused from here on, as
        after a load.  Requires libbpf >= 1.6."""
        self._check()
        call = lib.bpf_object__prepare  # a libbpf without it says which one has it
        if self._loaded or self._prepared:
            raise BPFError(errno.EALREADY, f"{self._describe()} is already "
                           f"{'loaded' if self._loaded else 'prepared'}",
                           call="bpf_object__prepare", target=self.name)
        if self._load_failed:
            raise BPFError(errno.EINVAL, f"{self._describe()} failed to load before; "
                           "open it again", call="bpf_object__prepare", target=self.name)
        with capture_log() as lines:
            ret = call(self._ptr)
        if ret < 0:
            self._load_failed = True
            raise self._load_error(-ret, lines)
        self._prepared = True
        return self

    def _loads_kernel_btf(self) -> None:
        """A program is about to have libbpf look up a kernel function's BTF, which
        libbpf < 1.6 keeps until the object is loaded (see ``_drop_kernel_btf``)."""
        if not _CLOSE_FREES_KERNEL_BTF:
            self._holds_kernel_btf[0] = True

    def _require_unloaded(self, call: str, what: str, target: str) -> None:
        """For setters of programs and maps: checked here rather than left to libbpf,
        whose setters do not all refuse changes once the object has been loaded (or
        tried to load)."""
        if self._load_attempted:
            raise BPFError(errno.EBUSY, f"{call}(): {what} can only be changed before the "
                           "object is loaded", call=call, target=target)

    @property
    def programs(self) -> Mapping[str, Program]:
        """The object's programs by name, in object order."""
        self._check()
        return self._programs

    @property
    def maps(self) -> Mapping[str, Map]:
        """The object's maps by name, including libbpf's maps for global data, which
        libbpf (and the kernel) name after the object (``prog.rodata`` for
        ``prog.bpf.o``) and which are also found by their section (``.rodata``)."""
        self._check()
        return self._maps

    @property
    def token_fd(self) -> int | None:
        """The BPF token libbpf made for this object at load (from ``token_path`` or
        /sys/fs/bpf), or None; owned by the object.  Requires libbpf >= 1.5."""
        self._check()
        fd = int(lib.bpf_object__token_fd(self._ptr))
        return fd if fd > 0 else None

    @property
    def kversion(self) -> int:
        """The kernel version the object declares (0 if none)."""
        self._check()
        return int(lib.bpf_object__kversion(self._ptr))

    @property
    def btf(self) -> Any:
        """The object's BTF (:class:`~libbpfpy.BTF`), or None if it has none."""
        self._check()
        if self._btf is None:
            ptr = lib.bpf_object__btf(self._ptr)
            if not ptr:
                return None
            from .btf import BTF
            self._btf = BTF._borrowed(ptr, self)
        return self._btf

    @property
    def globals(self) -> Any:
        """The object's global variables by name (``.rodata``, ``.data``, ``.bss``)."""
        self._check()
        if self._globals is None:
            from .globals import Globals
            self._globals = Globals(self)
        return self._globals

    # -- load / attach -----------------------------------------------------------------
    def load(self) -> Object:
        """Create the maps and load the programs into the kernel; returns self.

        Raises :class:`VerifierError` (with the full log) when the verifier rejects
        a program, :class:`NotSupportedError` when the kernel lacks a program type.
        """
        self._check()
        if self._loaded:
            raise BPFError(errno.EALREADY, f"{self._describe()} is already loaded",
                           call="bpf_object__load", target=self.name)
        if self._load_failed:
            raise BPFError(errno.EINVAL, f"{self._describe()} failed to load before; "
                           "libbpf cannot retry: open it again", call="bpf_object__load",
                           target=self.name)
        with capture_log(raise_pending=False) as lines:
            ret = unchecked(lib.bpf_object__load)(self._ptr)
        self._holds_kernel_btf[0] = False  # freed by the load, failed or not
        if ret < 0:
            self._load_failed = True
        else:
            self._loaded = True
        raise_pending()  # a Ctrl-C that came during the load: after the state is right
        if ret < 0:
            raise self._load_error(-ret, lines)
        return self

    def _load_error(self, err: int, lines: list[str]) -> BPFError:
        if self._mem_path:
            lines = [line.replace(self._mem_path, self._source) for line in lines]
        text = "".join(lines)
        bad_map = re.search(_FAILED_MAP, text)
        if bad_map is not None:
            number, name = bad_map.group(2, 3)
            code = abs(int(number)) if number else getattr(errno, name or "", 0)
            return self._map_error(bad_map.group(1), code or err)
        unresolved = re.findall(_UNRESOLVED_KCONFIG, text)
        if unresolved:
            return self._kconfig_error(err, unresolved)
        if "failed to open system Kconfig" in text:
            return self._kconfig_error(err, self._kconfig_externs(), opened=False)
        block = re.search(_LOG_BLOCK, text, re.S)
        failed = re.search(_FAILED_PROG, text)
        prog_name = block.group(1) if block else (failed.group(1) if failed else None)
        prog = self._programs._items.get(prog_name or "")
        log = block.group(2) if block else ""
        if prog is not None:
            if block:
                prog._failed_log = log
            elif prog._log_buf is not None:
                # With a log buffer of the user's (log_level set) libbpf prints
                # nothing: the verifier's words are in that buffer.
                log = prog.log
            unsupported = self._unsupported(prog, err)
            if unsupported is not None:
                return unsupported
        if err == errno.EPERM and prog_name and has_bpf_privileges():
            # libbpf suggests raising 'ulimit -l', which has not mattered since
            # Linux 5.11 (memcg accounting): with every privilege, EPERM is the
            # kernel's policy refusing this kind of program.
            section = prog.section if prog is not None else "this kind of"
            return NotSupportedError(
                f"cannot load program {prog_name!r} of {self._describe()}: the kernel "
                f"refuses {section} programs (EPERM with full BPF privileges)",
                feature=section, err=err, call="bpf_object__load", target=prog_name)
        if log.strip() and err != errno.EPERM:
            return VerifierError(err, f"the verifier rejected program {prog_name!r} of "
                                 f"{self._describe()}", log=log,
                                 program=prog_name, call="bpf_object__load")
        detail = _last_warning(lines) or strerror(err)
        return error_for(err, f"bpf_object__load() of {self._describe()} failed"
                         + (f" at program {prog_name!r}" if prog_name else "")
                         + f": {detail}",
                         call="bpf_object__load", target=self.name)

    def _map_error(self, name: str, err: int) -> BPFError:
        """The kernel refused to create map ``name``: say which map, why, and with
        which definition."""
        m = self._maps._items.get(name)
        if m is None:
            return error_for(err, f"bpf_object__load() of {self._describe()}: the kernel "
                             f"refused to create map {name!r}: {strerror(err)} [errno {err}]",
                             call="bpf_map_create", target=name)
        mtype = m.type
        definition = (f"{mtype.libbpf_name}, key_size={m.key_size}, value_size="
                      f"{m.value_size}, max_entries={m.max_entries}, flags={int(m.flags):#x}")
        why = _map_problem(mtype, m.key_size, m.value_size, m.max_entries, err)
        return error_for(err, f"bpf_object__load() of {self._describe()}: the kernel "
                         f"refused to create map {name!r} ({definition}): {strerror(err)} "
                         f"[errno {err}]" + (f": {why}" if why else ""),
                         call="bpf_map_create", target=name)

    def _kconfig_error(self, err: int, names: list[str], *, opened: bool = True
                       ) -> BPFError:
        """libbpf could not give values to ``__kconfig`` externs: say whether the
        kernel's configuration is missing or lacks them, and what to do.  ``names``
        are the unresolved externs, or (``opened`` false: libbpf found no
        configuration at all) every ``__kconfig`` extern of the object."""
        which = ", ".join(dict.fromkeys(names)) or "CONFIG_*"
        what = (f"its __kconfig extern {which} has no value" if opened else
                f"its __kconfig externs ({which}) need the kernel's configuration")
        source = kernel_config_source()
        example = names[0] if names else "CONFIG_X"
        if source is None or not opened:
            release = os.uname().release
            why = (f"libbpf reads the running kernel's configuration from "
                   f"/boot/config-{release} or /proc/config.gz, and neither is readable "
                   "here")
            hint = ("install the kernel's config file there, or pass the values with "
                    f"Object.open(..., kconfig=\"{example}=...\")")
        else:
            why = f"the kernel's configuration ({source}) does not set {which}"
            hint = (f"declare {'it' if len(names) == 1 else 'them'} __weak with a default, "
                    "or pass the value with Object.open(..., kconfig=...)")
        return BPFError(err or errno.ESRCH, f"cannot load {self._describe()}: {what}: {why}",
                        call="bpf_object__load", target=self.name, hint=hint)

    def _kconfig_externs(self) -> list[str]:
        """The object's ``__kconfig`` externs: the variables of its BTF's
        ``.kconfig`` section."""
        try:
            btf = self.btf
            if btf is None:
                return []
            from .btf import Kind
            names: list[str] = []
            for sec in btf.types(Kind.DATASEC):
                if sec.name == ".kconfig":
                    names.extend(btf[v.type_id].name for v in sec.vars)
            return names
        except (BPFError, KeyError, AttributeError):
            return []

    def _unsupported(self, prog: Program, err: int) -> BPFError | None:
        from . import probe
        ptype = prog.type
        feature = probe.for_program(ptype, prog.expected_attach_type, prog.section)
        if not feature:
            return NotSupportedError(
                f"cannot load program {prog.name!r} (SEC({prog.section!r})) of "
                f"{self._describe()}: {feature.reason}", feature=ptype.libbpf_name,
                err=err, call="bpf_object__load", target=prog.name)
        return None

    def attach(self) -> list[Link]:
        """Attach every loaded program whose section says how (libbpf auto-attach) and
        whose ``autoattach`` is on, and with libbpf >= 1.5 register every struct_ops
        map whose ``autoattach`` is on; return the new links."""
        self._check()
        if not self._loaded:
            raise BPFError(errno.EINVAL, f"{self._describe()} is not loaded: call load() "
                           "first", call="attach", target=self.name)
        links: list[Link] = []
        try:
            for prog in self._programs.values():
                if not prog.autoload or not prog.autoattach or not prog.loaded:
                    continue
                link = prog._auto_attach()
                if link is not None:
                    links.append(link)
            # As libbpf >= 1.5's skeletons do: struct_ops maps register too, unless
            # their autoattach is off.
            if lib.has("bpf_map__autoattach"):
                for m in self._maps.values():
                    if m.type == MapType.STRUCT_OPS and m.autoattach and m.autocreate:
                        links.append(m.attach_struct_ops())
        except BaseException:
            for link in links:
                link.close()
            raise
        return links

    # -- pinning ------------------------------------------------------------------------
    def pin_maps(self, path: str | os.PathLike[str] | None = None) -> None:
        """Pin every map under directory ``path`` (or at each map's pin_path)."""
        self._check()
        check_int(lib.bpf_object__pin_maps(self._ptr, _opt_path(path)),
                  "bpf_object__pin_maps", self._describe())

    def unpin_maps(self, path: str | os.PathLike[str] | None = None) -> None:
        """Remove the pins pin_maps() made."""
        self._check()
        check_int(lib.bpf_object__unpin_maps(self._ptr, _opt_path(path)),
                  "bpf_object__unpin_maps", self._describe())

    def pin_programs(self, path: str | os.PathLike[str]) -> None:
        """Pin every program under directory ``path``."""
        self._check()
        check_int(lib.bpf_object__pin_programs(self._ptr, _opt_path(path)),
                  "bpf_object__pin_programs", self._describe())

    def unpin_programs(self, path: str | os.PathLike[str]) -> None:
        """Remove the pins pin_programs() made."""
        self._check()
        check_int(lib.bpf_object__unpin_programs(self._ptr, _opt_path(path)),
                  "bpf_object__unpin_programs", self._describe())

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("loaded" if self._loaded else
                                                "prepared" if self._prepared else "opened")
        return f"<Object {getattr(self, 'name', '?')!r} {state}>"


def _mem_path(buf: Any, data: bytes) -> str:
    """What libbpf calls an object opened from memory ("<address>-<size>" in hex)."""
    return f"{ctypes.addressof(buf):x}-{len(data):x}"


def _opt_path(path: str | os.PathLike[str] | None) -> bytes | None:
    return None if path is None else os.fsencode(os.fspath(path))


def _map_problem(mtype: Any, key_size: int, value_size: int, max_entries: int,
                 err: int) -> str:
    """The attribute most likely at fault when the kernel refuses a map definition."""
    from .enums import MapType
    if max_entries == 0 and mtype not in (MapType.PERF_EVENT_ARRAY,):
        return "max_entries is 0"
    if mtype in (MapType.RINGBUF, MapType.USER_RINGBUF):
        page = os.sysconf("SC_PAGE_SIZE")
        if max_entries & (max_entries - 1) or max_entries % page:
            return (f"a ring buffer's max_entries (its size in bytes) must be a power of "
                    f"two and a multiple of the page size ({page})")
    if err == errno.E2BIG:
        return (f"value_size {value_size} or key_size {key_size} is larger than the kernel "
                f"allows for {mtype.libbpf_name} maps")
    if key_size == 0 and mtype in (MapType.HASH, MapType.LRU_HASH, MapType.PERCPU_HASH,
                                   MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE):
        return "key_size is 0"
    if value_size == 0 and mtype not in (MapType.BLOOM_FILTER,):
        return "value_size is 0"
    return ""


def _last_warning(lines: list[str]) -> str:
    """The last libbpf message, without its prefix: usually the actual reason."""
    for line in reversed("".join(lines).splitlines()):
        line = line.strip()
        if line and not line.startswith("-- END"):
            return line.removeprefix("libbpf: ")
    return ""
