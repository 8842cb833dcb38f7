"""mmapsnoop: trace mmap() calls system-wide, one line per call.

    # mmapsnoop                      every call, as it returns
    # mmapsnoop -p 1234 --file       process 1234's file-backed maps only
    # mmapsnoop -x -T                failed calls, with wall-clock time
    # mmapsnoop --json -n python     JSON lines for commands containing "python"

Each event pairs the call's entry with its return (by thread id): time, pid,
tid, uid, command, returned address (or the error), length, protection, flags,
fd, offset and, for file-backed maps, the file's full path.  The path is read in
the kernel from the task's fd table at entry, so it is right even when the fd is
closed as soon as mmap() returns.  All filters run in the kernel (read-only
globals set before load), so filtered-out calls cost no ring buffer traffic.

Attachment is chosen like libbpf-tools do: fentry/fexit where the kernel allows
it, else kprobes on the syscall, else the ``syscalls:sys_{enter,exit}_mmap``
tracepoints (``--attach`` overrides, ``-v`` tells which and why).

Its own calls are left out (``--self`` keeps them), and it names its process
``mmapsnoop`` so that other tools see it by that name rather than as ``python``.
The BPF object ships compiled in the package: starting needs no compiler.

Ctrl-C or SIGTERM stops it; a summary (events, drops) goes to standard error.
"""
from __future__ import annotations

import argparse
import errno as _errno
import os
import signal
import struct
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..object import Object
    from ..ringbuf import RingBuffer

__all__ = ["main", "build_parser", "choose_attach", "decode", "Event", "Choice",
           "prot_names", "flag_names", "prot_letters", "STRATEGIES", "prepare",
           "detect_features", "syscall_function"]

PROG = "mmapsnoop"

# -- the event record (struct event in mmapsnoop.h) -----------------------------------
HEADER = struct.Struct("<QqQQQIIIIIiHHI16s")
PATH_FILE, PATH_TRUNCATED, PATH_DELETED, PATH_PSEUDO, PATH_ANON_INODE = 1, 2, 4, 8, 16
MAX_ERRNO = 4095
COMM_MAX = 15

# -- mmap's protection and flag bits (asm-generic values: x86, arm64, riscv ...) ------
_PROT_BITS = ((0x1, "READ"), (0x2, "WRITE"), (0x4, "EXEC"), (0x8, "SEM"),
              (0x01000000, "GROWSDOWN"), (0x02000000, "GROWSUP"))
_MAP_TYPES = {0x1: "SHARED", 0x2: "PRIVATE", 0x3: "SHARED_VALIDATE", 0x8: "DROPPABLE"}
_MAP_BITS = ((0x10, "FIXED"), (0x20, "ANONYMOUS"), (0x40, "32BIT"), (0x100, "GROWSDOWN"),
             (0x800, "DENYWRITE"), (0x1000, "EXECUTABLE"), (0x2000, "LOCKED"),
             (0x4000, "NORESERVE"), (0x8000, "POPULATE"), (0x10000, "NONBLOCK"),
             (0x20000, "STACK"), (0x40000, "HUGETLB"), (0x80000, "SYNC"),
             (0x100000, "FIXED_NOREPLACE"))
_MAP_UNINITIALIZED = 0x4000000
_MAP_HUGETLB = 0x40000
_HUGE_SHIFT = 26
MAP_ANONYMOUS = 0x20


def prot_names(prot: int) -> list[str]:
    """``PROT_*`` bits as names without the prefix (``["READ", "EXEC"]``)."""
    names = [name for bit, name in _PROT_BITS if prot & bit]
    rest = prot & ~sum(bit for bit, _ in _PROT_BITS)
    if rest:
        names.append(hex(rest))
    return names


def prot_letters(prot: int) -> str:
    """Protection as ``rwx`` letters (``"r-x"``, ``"---"`` for PROT_NONE)."""
    return ("r" if prot & 1 else "-") + ("w" if prot & 2 else "-") + \
        ("x" if prot & 4 else "-")


def flag_names(flags: int) -> list[str]:
    """``MAP_*`` flags as names without the prefix (``["PRIVATE", "ANONYMOUS"]``)."""
    names = []
    kind = flags & 0xF
    if kind:
        names.append(_MAP_TYPES.get(kind, f"TYPE_{kind:#x}"))
    known = 0xF
    for bit, name in _MAP_BITS:
        known |= bit
        if flags & bit:
            names.append(name)
    high = flags >> _HUGE_SHIFT
    if flags & _MAP_HUGETLB and high:
        size = 1 << high
        names.append(f"HUGE_{size >> 30}GB" if size >= 1 << 30 else f"HUGE_{size >> 20}MB"
                     if size >= 1 << 20 else f"HUGE_{size >> 10}KB")
        known |= 0x3F << _HUGE_SHIFT
    elif flags & _MAP_UNINITIALIZED:
        names.append("UNINITIALIZED")
        known |= _MAP_UNINITIALIZED
    rest = flags & ~known
    if rest:
        names.append(hex(rest))
    return names


class Event(NamedTuple):
    """One mmap() call as reported by the kernel."""

    ts_ns: int            # CLOCK_MONOTONIC at entry
    pid: int
    tid: int
    uid: int
    comm: str
    ret: int              # returned address, or -errno
    req_addr: int         # the address asked for
    length: int
    prot: int
    flags: int
    fd: int
    offset: int
    file: str | None      # full path for file-backed maps

    @property
    def failed(self) -> bool:
        """Whether the call returned an error."""
        return -MAX_ERRNO <= self.ret < 0

    @property
    def addr(self) -> int | None:
        """The mapped address (None when the call failed)."""
        return None if self.failed else self.ret & 0xFFFFFFFFFFFFFFFF

    @property
    def error(self) -> str | None:
        """The errno name of a failed call (``"EBADF"``), else None."""
        if not self.failed:
            return None
        return _errno.errorcode.get(-self.ret, f"E{-self.ret}")


def decode(raw: bytes | memoryview) -> Event:
    """Turn one ring buffer record into an :class:`Event`."""
    (ts, ret, addr, length, off, pid, tid, uid, prot, flags, fd, path_len, path_flags,
     _, comm) = HEADER.unpack_from(raw)
    path: str | None = None
    if path_flags & PATH_FILE:
        blob = bytes(raw[HEADER.size:HEADER.size + path_len])
        parts = blob.split(b"\0")
        if parts and not parts[-1]:
            parts.pop()
        parts.reverse()
        if path_flags & PATH_PSEUDO:
            # As the kernel shows them: "anon_inode:[bpf-map]", "/memfd:x (deleted)".
            path = os.fsdecode(b"".join(parts))
            if path_flags & PATH_ANON_INODE:
                path = "anon_inode:" + path
        else:
            path = os.fsdecode(b"/" + b"/".join(parts))
        if path_flags & PATH_TRUNCATED:
            path = "..." + path
        if path_flags & PATH_DELETED:
            path += " (deleted)"
    return Event(ts, pid, tid, uid, comm.split(b"\0", 1)[0].decode(errors="replace"), ret,
                 addr, length, prot, flags, fd, off, path)


# -- attach strategy -------------------------------------------------------------------
STRATEGIES = ("fentry", "kprobe", "tracepoint")
PROGRAMS = {"fentry": ("mmap_enter_fentry", "mmap_exit_fexit"),
            "kprobe": ("mmap_enter_kprobe", "mmap_exit_kprobe"),
            "tracepoint": ("mmap_enter_tp", "mmap_exit_tp")}
_PROG_TYPES = {"fentry": "tracing", "kprobe": "kprobe", "tracepoint": "tracepoint"}
_SYSCALL_PREFIX = {"x86_64": "__x64_", "aarch64": "__arm64_", "s390x": "__s390x_",
                   "riscv64": "__riscv_"}


class Choice(NamedTuple):
    """How to attach, and what the probes said about each way."""

    strategy: str
    notes: list[str]


def syscall_function() -> str:
    """The kernel function fentry attaches to for mmap (``__x64_sys_mmap``)."""
    return _SYSCALL_PREFIX.get(os.uname().machine, "__se_") + "sys_mmap"


def choose_attach(requested: str | None, features: dict[str, Any]) -> Choice:
    """Pick the attach strategy: ``requested`` if given, else the first of fentry,
    kprobe, tracepoint whose feature (a truthy/falsy value with ``.reason``, as
    probes return) says it works here."""
    notes = [f"{name}: {'yes' if features[name] else 'no'} ({features[name].reason})"
             for name in STRATEGIES if name in features]
    if requested:
        if requested not in STRATEGIES:
            raise ValueError(f"unknown attach strategy {requested!r}")
        return Choice(requested, notes + [f"{requested} requested with --attach"])
    for name in STRATEGIES:
        if features.get(name):
            return Choice(name, notes)
    raise LookupError("no way to trace mmap() on this kernel: "
                      + "; ".join(notes or ["nothing probed"]))


def detect_features() -> dict[str, Any]:
    """Ask this kernel which attach strategies work (probes; cheap checks first)."""
    from .. import fs, probe
    from ..probe import Feature

    features: dict[str, Any] = {}
    fentry = probe.fentry()
    if fentry:
        target = syscall_function()
        if probe.kernel_btf_id(target) > 0:
            fentry = Feature("fentry", True, f"{fentry.reason}; {target} is in kernel BTF")
        else:
            fentry = Feature("fentry", False, f"no function {target} in kernel BTF")
    features["fentry"] = fentry
    features["kprobe"] = probe.kprobes()
    base = fs.tracefs_path()
    if base is None:
        features["tracepoint"] = Feature("tracepoint", False, "tracefs is not mounted")
    elif fs.tracepoint_exists("syscalls", "sys_enter_mmap") and \
            fs.tracepoint_exists("syscalls", "sys_exit_mmap"):
        features["tracepoint"] = Feature("tracepoint", True,
                                         f"{base}/events/syscalls/sys_enter_mmap exists")
    else:
        features["tracepoint"] = Feature(
            "tracepoint", False, f"no syscalls:sys_enter_mmap in {base}/events "
            "(kernel without CONFIG_FTRACE_SYSCALLS)")
    return features


# -- command line ------------------------------------------------------------------------
def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    mult = units.get(t[-1:], 1)
    try:
        value = int(t[:-1] if t[-1:] in units else t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4M, 262144)") from None
    page = os.sysconf("SC_PAGE_SIZE")
    if value < page or value & (value - 1):
        raise argparse.ArgumentTypeError(
            f"{text!r}: the ring buffer size must be a power of two of at least {page} bytes")
    return value


def _uid(text: str) -> int:
    if text.isdigit():
        return int(text)
    import pwd
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise argparse.ArgumentTypeError(f"no such user: {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def _comm(text: str) -> str:
    if not text or len(text.encode()) > COMM_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r}: command names have 1 to {COMM_MAX} bytes (the kernel keeps only "
            f"the first {COMM_MAX})")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mmapsnoop``."""
    p = argparse.ArgumentParser(
        prog=PROG, description="Trace mmap() calls system-wide: one line per call, with "
        "the mapped file's path.", epilog="examples:\n  mmapsnoop -p 1234\n"
        "  mmapsnoop --file -n python\n  mmapsnoop -x -T\n  mmapsnoop --json -d 5",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-p", "--pid", type=_positive, help="only this process")
    p.add_argument("-t", "--tid", type=_positive, help="only this thread")
    p.add_argument("-u", "--uid", type=_uid, help="only this user (id or name)")
    p.add_argument("-n", "--name", type=_comm,
                   help="only commands whose name contains NAME")
    p.add_argument("-x", "--failed", action="store_true", help="only failed calls")
    p.add_argument("--self", action="store_true",
                   help="also report mmapsnoop's own calls (left out by default)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--anon", action="store_true", help="only anonymous maps")
    kind.add_argument("--file", action="store_true", help="only file-backed maps")
    p.add_argument("-T", "--timestamp", action="store_true",
                   help="wall-clock time (HH:MM:SS.mmm) instead of seconds since start")
    p.add_argument("-d", "--duration", type=_seconds, metavar="SECONDS",
                   help="stop after SECONDS")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--ringbuf-size", type=_size, default=1 << 20, metavar="BYTES",
                   help="ring buffer size, a power of two (default 1M)")
    p.add_argument("--attach", choices=STRATEGIES,
                   help="attach this way instead of the best the kernel supports")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="say how it attached and why")
    p.add_argument("--build", action="store_true",
                   help="compile the BPF object into the package with the BPF tool chain "
                   "(see python -m libbpfpy.tools --help), print its path, exit")
    from ..cli import VersionAction
    p.add_argument("--version", action=VersionAction)
    return p


def _name_process() -> None:
    """Call this process (its main thread's comm) mmapsnoop instead of python."""
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, PROG.encode(), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


# -- output --------------------------------------------------------------------------------
class _Printer:
    def __init__(self, out: IO[str], *, json_lines: bool, wall: bool) -> None:
        self.out = out
        self.json_lines = json_lines
        self.wall = wall
        self.start_ns = time.monotonic_ns()
        self.wall_offset_ns = time.time_ns() - self.start_ns
        self.count = 0
        self.busy = False       # inside the callback: a signal must not cut a line
        # Few distinct prot/flags values occur: name each once.
        self._prot: dict[int, tuple[str, list[str]]] = {}
        self._flags: dict[int, tuple[str, list[str]]] = {}
        if json_lines:
            import json
            self._dumps: Callable[[Any], str] = json.dumps

    def header(self) -> None:
        if self.json_lines:
            return
        tw = 12 if self.wall else 10
        self.out.write(f"{'TIME':<{tw}} {'PID':>7} {'TID':>7} {'COMM':<15} {'ADDR':>16} "
                       f"{'LEN':>10} PROT {'FLAGS':<24} {'FD':>4} {'OFF':>10} FILE\n")
        self.out.flush()

    def __call__(self, raw: Any) -> None:
        self.busy = True
        try:
            self._write(decode(raw))
            self.count += 1
        finally:
            self.busy = False

    def _names(self, ev: Event) -> tuple[tuple[str, list[str]], tuple[str, list[str]]]:
        prot = self._prot.get(ev.prot)
        if prot is None:
            prot = self._prot[ev.prot] = (prot_letters(ev.prot), prot_names(ev.prot))
        flags = self._flags.get(ev.flags)
        if flags is None:
            names = flag_names(ev.flags)
            flags = self._flags[ev.flags] = ("|".join(names) or "0", names)
        return prot, flags

    def _write(self, ev: Event) -> None:
        prot, flags = self._names(ev)
        if self.json_lines:
            self.out.write(self._dumps({
                "time": round((ev.ts_ns + self.wall_offset_ns) / 1e9, 6),
                "pid": ev.pid, "tid": ev.tid, "uid": ev.uid, "comm": ev.comm,
                "addr": ev.addr, "len": ev.length, "prot": prot[1],
                "flags": flags[1], "fd": ev.fd, "offset": ev.offset,
                "file": ev.file, "error": ev.error}) + "\n")
            return
        if self.wall:
            wall = (ev.ts_ns + self.wall_offset_ns) / 1e9
            ts = time.strftime("%H:%M:%S", time.localtime(wall)) + \
                f".{int(wall * 1000) % 1000:03d}"
        else:
            ts = f"{max(ev.ts_ns - self.start_ns, 0) / 1e9:<10.6f}"
        addr = f"ERR:{ev.error}" if ev.failed else f"{ev.ret:x}"
        anon = ev.flags & MAP_ANONYMOUS
        fd = "-" if anon else str(ev.fd)
        line = (f"{ts} {ev.pid:>7} {ev.tid:>7} {ev.comm:<15} {addr:>16} "
                f"{ev.length:>10} {prot[0]:<4} {flags[0]:<24} {fd:>4} "
                f"{ev.offset:>10} {ev.file or ''}")
        self.out.write(line.rstrip() + "\n")


# -- running ------------------------------------------------------------------------------
class _Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler to leave the event loop."""


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def prepare(obj: Object, args: argparse.Namespace, strategy: str) -> None:
    """Before load: keep only ``strategy``'s programs, set the filters (read-only
    globals, constants to the verifier) and the ring buffer size."""
    wanted = PROGRAMS[strategy]
    for prog in obj.programs.values():
        prog.autoload = prog.name in wanted
    if strategy == "fentry":
        for name in wanted:
            obj.programs[name].set_attach_target(syscall_function())
    comm = args.name.encode() if args.name else b""
    g = obj.globals
    g["targ_pid"] = args.pid or 0
    g["targ_tid"] = args.tid or 0
    g["targ_uid"] = 0xFFFFFFFF if args.uid is None else args.uid
    g["targ_comm"] = comm
    g["targ_comm_len"] = len(comm)
    g["targ_failed"] = args.failed
    g["targ_kind"] = 1 if args.anon else 2 if args.file else 0
    g["skip_pid"] = 0 if getattr(args, "self", False) else os.getpid()
    obj.maps["events"].max_entries = args.ringbuf_size


def _counters(obj: Object, rb: RingBuffer) -> tuple[int, int]:
    """The drop counters the BPF program keeps, read live: events the ring had no
    room for (``events__lost``, see libbpfpy/ringbuf.h) and calls missed (.bss)."""
    return int(rb.lost or 0), int(obj.globals["missed"])


def _attach(obj: Object, strategy: str) -> list[Any]:
    enter, leave = (obj.programs[n] for n in PROGRAMS[strategy])
    links = []
    try:
        if strategy == "tracepoint":
            links.append(enter.attach_tracepoint("syscalls", "sys_enter_mmap"))
            links.append(leave.attach_tracepoint("syscalls", "sys_exit_mmap"))
        elif strategy == "kprobe":
            links.append(enter.attach_ksyscall("mmap"))
            links.append(leave.attach_ksyscall("mmap", retprobe=True))
        else:
            links.append(enter.attach_trace())
            links.append(leave.attach_trace())
    except BaseException:
        for link in links:
            link.close()
        raise
    return links


def run(args: argparse.Namespace) -> int:
    """Trace until stopped; returns the exit status."""
    try:
        from .. import _caps
        if args.build:
            from ..errors import CompileError
            from ._build import build
            try:
                print(build(PROG))
            except CompileError as exc:
                sys.stderr.write(exc.diagnostics)
                return _fail(exc.message)
            return 0
        if not _caps.has_bpf_privileges():
            return _fail("needs BPF privileges: run as root, or grant CAP_BPF and "
                         "CAP_PERFMON (with CAP_DAC_READ_SEARCH for tracefs)")
        from .. import fs
        from ..errors import BPFError, NotSupportedError
        from ..object import Object
        from ..ringbuf import RingBuffer
    except ImportError as exc:  # libbpf missing or unloadable
        return _fail(f"cannot use libbpf: {exc}")
    _route_libbpf_log(args.verbose)
    try:
        fs.mount_tracefs()
    except OSError as exc:
        if args.verbose:
            print(f"{PROG}: {exc}", file=sys.stderr)
    try:
        from . import bpf_object
        path = bpf_object(PROG)
    except OSError as exc:
        return _fail(exc.strerror or str(exc))
    try:
        features = {} if args.attach else detect_features()
        choice = choose_attach(args.attach, features)
    except LookupError as exc:
        return _fail(str(exc))
    from .. import probe
    kind = probe.prog_type(_PROG_TYPES[choice.strategy])
    if not kind:
        return _fail(f"this kernel cannot run the BPF programs mmapsnoop needs: "
                     f"{kind.reason} (it needs CONFIG_BPF_SYSCALL and CONFIG_BPF_EVENTS)")
    if args.verbose:
        print(f"{PROG}: attaching via {choice.strategy}", file=sys.stderr)
        for note in choice.notes:
            print(f"{PROG}:   {note}", file=sys.stderr)

    printer = _Printer(sys.stdout, json_lines=args.json, wall=args.timestamp)
    stopped = {"signal": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        stopped["signal"] = signum
        if not printer.busy:    # else the loop sees the flag once poll() returns
            raise _Stop

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    dropped = missed = 0
    try:
        with Object.open(path, name="mmapsnoop") as obj:
            prepare(obj, args, choice.strategy)
            obj.load()
            _attach(obj, choice.strategy)
            with RingBuffer(obj.maps["events"], printer) as rb:
                printer.header()
                print(f"{PROG}: tracing mmap() via {choice.strategy}; Ctrl-C to end",
                      file=sys.stderr, flush=True)
                dropped, missed = _loop(rb, printer, lambda: _counters(obj, rb), args.duration,
                                        lambda: bool(stopped["signal"]))
    except _Stop:
        pass
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except NotSupportedError as exc:
        hint = " (try --attach tracepoint)" if choice.strategy != "tracepoint" and \
            not exc.hint else ""
        return _fail(f"{exc}{hint}")
    except (BPFError, OSError) as exc:
        return _fail(str(exc))
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return 0
    counts = f"{printer.count} events, {dropped} dropped"
    if missed:
        counts += f", {missed} calls missed (too many threads in mmap at once)"
    print(f"{PROG}: {counts}", file=sys.stderr)
    return 0


def _loop(rb: Any, printer: _Printer, counters: Callable[[], tuple[int, int]],
          duration: float | None,
          stopped: Callable[[], bool]) -> tuple[int, int]:
    """Poll until stopped or ``duration`` passes; returns (dropped, missed)."""
    deadline = None if duration is None else time.monotonic() + duration
    reported = 0
    last_report = 0.0
    dropped = missed = 0
    try:
        while True:
            timeout = 0.5
            if deadline is not None:
                timeout = min(timeout, max(deadline - time.monotonic(), 0.0))
            rb.poll(timeout)
            printer.out.flush()
            if stopped():
                raise _Stop
            now = time.monotonic()
            if now - last_report >= 1.0:
                dropped, missed = counters()
                if dropped > reported:
                    print(f"{PROG}: {dropped - reported} events dropped by the kernel "
                          "(ring buffer full; try a bigger --ringbuf-size)",
                          file=sys.stderr, flush=True)
                    reported = dropped
                last_report = now
            if deadline is not None and now >= deadline:
                break
    except _Stop:
        # Drain what is already in the ring, then stop; ignore further signals.
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
        rb.poll(0)
        printer.out.flush()
    return counters()


def _route_libbpf_log(verbose: bool) -> None:
    # libbpf's messages reach the "libbpfpy.libbpf" logger.  Errors raised to us
    # already quote the relevant one, so show them all only with -v.
    import logging
    log = logging.getLogger("libbpfpy.libbpf")
    handler: logging.Handler = logging.NullHandler()
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    log.addHandler(handler)
    log.propagate = False


def _silence_stdout() -> None:
    # Output went to a pipe that closed (| head): say nothing more, and keep the
    # interpreter from complaining when it flushes stdout at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmapsnoop`` console script."""
    try:
        args = build_parser().parse_args(argv)
        _name_process()
        return run(args)
    except KeyboardInterrupt:   # Ctrl-C before tracing started: end quietly
        return 130


if __name__ == "__main__":
    sys.exit(main())
