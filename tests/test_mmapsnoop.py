"""mmapsnoop against real mmap() calls of helper processes whose pids we know.

Each helper (a small Python child) starts, reports its pid and the tid of a
second thread, waits for "go" on stdin, makes a fixed list of mmap() calls with
ctypes and reports what they returned.  mmapsnoop is started first and the test
waits for its "tracing" line on stderr, so it is attached before the child acts.
"""
from __future__ import annotations

import ctypes
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import skip_unless
from libbpfpy import probe

TOOL = [sys.executable, "-m", "libbpfpy.tools.mmapsnoop"]
NOBODY = 65534
BAD_FD = 987

CHILD = r"""
import ctypes, json, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.prctl(15, sys.argv[1].encode(), 0, 0, 0)          # PR_SET_NAME
shared_path, exec_path = sys.argv[2], sys.argv[3]
PAGE = 4096
go = threading.Event()
out = {}

def worker():
    out["thread_tid"] = threading.get_native_id()
    go.wait()
    out["thread_addr"] = libc.mmap(None, 5 * PAGE, 3, 0x22, -1, 0)

t = threading.Thread(target=worker)
t.start()
while "thread_tid" not in out:
    time.sleep(0.001)
print(json.dumps({"pid": os.getpid(), "thread_tid": out["thread_tid"]}), flush=True)
sys.stdin.readline()
try:
    os.close(BAD_FD)
except OSError:
    pass
out["t0"] = time.time()
out["anon"] = libc.mmap(None, 3 * PAGE, 3, 0x22, -1, 0)          # RW, PRIVATE|ANONYMOUS
fd = os.open(shared_path, os.O_RDWR)
out["shared_fd"] = fd
out["shared"] = libc.mmap(None, PAGE, 3, 0x01, fd, 2 * PAGE)     # RW, SHARED, offset 8192
os.close(fd)
os.unlink(shared_path)
fd = os.open(exec_path, os.O_RDONLY)
out["exec_fd"] = fd
out["exec"] = libc.mmap(None, PAGE, 5, 0x02, fd, 0)               # R-X, PRIVATE
os.close(fd)
out["fixed"] = libc.mmap(out["anon"], PAGE, 1, 0x32, -1, 0)      # PRIVATE|FIXED|ANONYMOUS
out["bad"] = libc.mmap(None, PAGE, 1, 0x01, BAD_FD, 0)         # SHARED, bad fd
out["bad_errno"] = ctypes.get_errno()
go.set()
t.join()
out["t1"] = time.time()
print(json.dumps(out), flush=True)
""".replace("BAD_FD", str(BAD_FD))


class Child:
    """A helper process that makes the known mmap() calls when told to."""

    def __init__(self, comm: str = "snoopkid", uid: int | None = None) -> None:
        fd, self.shared_path = tempfile.mkstemp(prefix="mmapsnoop-", dir="/dev/shm")
        os.ftruncate(fd, 4 * 4096)
        os.close(fd)
        self.dir = tempfile.mkdtemp(prefix="mmapsnoop-")
        self.exec_path = os.path.join(self.dir, "code.bin")
        with open(self.exec_path, "wb") as f:
            f.write(b"\xc3" * 4096)
        for p in (self.shared_path, self.exec_path, self.dir):
            os.chmod(p, 0o777 if p == self.dir else 0o666)
            if uid is not None:
                os.chown(p, uid, uid)   # /dev/shm is sticky: the child unlinks
        preexec = None
        python = sys.executable
        if uid is not None:
            # The venv's interpreter may live where that user cannot reach it;
            # the child needs only the standard library.
            python = "/usr/bin/python3"

            def preexec() -> None:
                os.setgid(uid)
                os.setgroups([])
                os.setuid(uid)
        self.proc = subprocess.Popen([python, "-c", CHILD, comm, self.shared_path,
                                      self.exec_path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, preexec_fn=preexec,
                                     cwd="/")
        hello = json.loads(self.proc.stdout.readline())
        self.pid: int = hello["pid"]
        self.thread_tid: int = hello["thread_tid"]
        self.result: dict = {}

    def go(self) -> dict:
        out, _ = self.proc.communicate("go\n", timeout=30)
        assert self.proc.returncode == 0, f"helper failed: {out!r}"
        self.result = json.loads(out)
        return self.result

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            stream.close()
        for p in (self.shared_path, self.exec_path):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(self.dir)


class Snoop:
    """mmapsnoop running in the background; stderr lines collected by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(TOOL + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # stdout is drained all along, or a full pipe would block the tool.
        self._out: list[str] = []
        self._out_reader = threading.Thread(
            target=lambda: self._out.append(self.proc.stdout.read()), daemon=True)
        self._out_reader.start()
        self.stdout = ""

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_ready(self, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(end - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line is None:
                break
            if "tracing mmap()" in line:
                return
        self.proc.kill()
        self.proc.wait()
        self._reader.join()
        raise AssertionError(f"mmapsnoop never became ready: {''.join(self.stderr)}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        time.sleep(0.2)       # let the last records reach the ring buffer reader
        self.proc.send_signal(sig)
        # Not communicate(): it would race the reader thread for stderr.
        guard = threading.Timer(30, self.proc.kill)
        guard.start()
        try:
            self.proc.wait()
        finally:
            guard.cancel()
        self._reader.join()
        self._out_reader.join()
        self.stdout = "".join(self._out)
        return self.proc.returncode

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join()
        self._out_reader.join()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def _run(tool_args: list[str], *children: Child, go: tuple[Child, ...] | None = None):
    snoop = Snoop(*tool_args)
    try:
        snoop.wait_ready()
        for c in go if go is not None else children:
            c.go()
        rc = snoop.stop()
    finally:
        snoop.kill()
    assert rc == 0, "".join(snoop.stderr)
    return snoop


@pytest.fixture
def child():
    made: list[Child] = []

    def make(**kw) -> Child:
        c = Child(**kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.cleanup()


def _find(events: list[dict], **want) -> list[dict]:
    return [e for e in events if all(e[k] == v for k, v in want.items())]


def _known_calls(c: Child) -> dict[str, dict]:
    """What mmapsnoop must report for each of the child's calls (all fields)."""
    r = c.result
    base = {"pid": c.pid, "tid": c.pid, "comm": None, "uid": None}
    calls = {
        "anon": dict(base, addr=r["anon"], len=3 * 4096, prot=["READ", "WRITE"],
                     flags=["PRIVATE", "ANONYMOUS"], fd=-1, offset=0, file=None,
                     error=None),
        "shared": dict(base, addr=r["shared"], len=4096, prot=["READ", "WRITE"],
                       flags=["SHARED"], fd=r["shared_fd"], offset=8192,
                       file=c.shared_path, error=None),
        "exec": dict(base, addr=r["exec"], len=4096, prot=["READ", "EXEC"],
                     flags=["PRIVATE"], fd=r["exec_fd"], offset=0,
                     file=os.path.realpath(c.exec_path), error=None),
        "fixed": dict(base, addr=r["anon"], len=4096, prot=["READ"],
                      flags=["PRIVATE", "FIXED", "ANONYMOUS"], fd=-1, offset=0,
                      file=None, error=None),
        "bad": dict(base, addr=None, len=4096, prot=["READ"], flags=["SHARED"],
                    fd=BAD_FD, offset=0, file=None, error="EBADF"),
        "thread": dict(base, tid=c.thread_tid, addr=r["thread_addr"], len=5 * 4096,
                       prot=["READ", "WRITE"], flags=["PRIVATE", "ANONYMOUS"], fd=-1,
                       offset=0, file=None, error=None),
    }
    return calls


def _match(events: list[dict], call: dict) -> list[dict]:
    return _find(events, **{k: v for k, v in call.items() if v is not None or k in (
        "addr", "file", "error")})


def _strategy_feature(strategy: str | None):
    """The probe deciding whether ``strategy`` (None: the tool's own choice) works."""
    from libbpfpy.tools.mmapsnoop import detect_features
    return None if strategy is None else detect_features()[strategy]


@pytest.mark.root
@pytest.mark.parametrize("strategy", [None, "tracepoint", "kprobe", "fentry"])
def test_every_field_of_known_calls(child, strategy):
    # Each forced way of attaching must report the same calls with the same fields
    # (fentry and kprobe run where the kernel has them: the kernel matrix's guests).
    feature = _strategy_feature(strategy)
    if feature is not None:
        skip_unless(feature)
    c = child(comm="snoopkid")
    forced = ["--attach", strategy] if strategy else []
    snoop = _run(["--json", "-p", str(c.pid), *forced], c)
    events = snoop.events()
    r = c.result
    assert r["bad"] == 2 ** 64 - 1 and r["bad_errno"] == 9       # MAP_FAILED, EBADF
    assert r["fixed"] == r["anon"]
    keys = {"time", "pid", "tid", "uid", "comm", "addr", "len", "prot", "flags", "fd",
            "offset", "file", "error"}
    assert events and all(set(e) == keys for e in events)
    assert {e["pid"] for e in events} == {c.pid}
    for name, call in _known_calls(c).items():
        call.update(comm="snoopkid", uid=0)
        found = _match(events, call)
        assert len(found) == 1, (name, call, events)
        assert r["t0"] - 0.05 <= found[0]["time"] <= r["t1"] + 0.05, (name, found, r)
    # The shared file was unlinked and its fd closed right after the call: the
    # path came from the kernel at entry, through the tmpfs mount on /dev/shm.
    assert not os.path.exists(c.shared_path)
    assert re.search(r"mmapsnoop: \d+ events, 0 dropped", "".join(snoop.stderr))


def _assert_present(events: list[dict], c: Child, names: list[str]) -> None:
    calls = _known_calls(c)
    for name in names:
        assert _match(events, calls[name]), (name, calls[name], events)


def _assert_absent(events: list[dict], c: Child, names: list[str]) -> None:
    calls = _known_calls(c)
    for name in names:
        assert not _match(events, calls[name]), (name, calls[name])


ALL = ["anon", "shared", "exec", "fixed", "bad", "thread"]


@pytest.mark.root
def test_name_filter_is_a_substring_match(child):
    kid, other = child(comm="snoopkid"), child(comm="otherkid")
    events = _run(["--json", "-n", "oopki"], kid, other).events()
    assert events and all("oopki" in e["comm"] for e in events)
    assert {e["pid"] for e in events} >= {kid.pid} and other.pid not in {
        e["pid"] for e in events}
    _assert_present(events, kid, ALL)


@pytest.mark.root
def test_failed_only(child):
    c = child()
    events = _run(["--json", "-x", "-p", str(c.pid)], c).events()
    assert events and all(e["error"] is not None and e["addr"] is None for e in events)
    _assert_present(events, c, ["bad"])
    _assert_absent(events, c, ["anon", "shared", "exec", "fixed", "thread"])


@pytest.mark.root
def test_anon_only(child):
    c = child()
    events = _run(["--json", "--anon", "-p", str(c.pid)], c).events()
    assert events and all("ANONYMOUS" in e["flags"] for e in events)
    _assert_present(events, c, ["anon", "fixed", "thread"])
    _assert_absent(events, c, ["shared", "exec", "bad"])


@pytest.mark.root
def test_file_only(child):
    c = child()
    events = _run(["--json", "--file", "-p", str(c.pid)], c).events()
    assert events and all("ANONYMOUS" not in e["flags"] for e in events)
    _assert_present(events, c, ["shared", "exec", "bad"])
    _assert_absent(events, c, ["anon", "fixed", "thread"])


@pytest.mark.root
def test_uid_filter(child):
    mine, roots = child(uid=NOBODY), child()
    events = _run(["--json", "-u", str(NOBODY)], mine, roots).events()
    assert events and all(e["uid"] == NOBODY for e in events)
    assert roots.pid not in {e["pid"] for e in events}
    calls = _known_calls(mine)
    for call in calls.values():
        call["uid"] = NOBODY
        assert _match(events, call), call


@pytest.mark.root
def test_tid_filter(child):
    c = child()
    events = _run(["--json", "-t", str(c.thread_tid)], c).events()
    assert events and all(e["tid"] == c.thread_tid and e["pid"] == c.pid for e in events)
    _assert_present(events, c, ["thread"])
    _assert_absent(events, c, ["anon", "shared", "exec", "fixed", "bad"])


@pytest.mark.root
def test_text_output_columns(child):
    c = child(comm="snoopkid")
    snoop = _run(["-T", "-p", str(c.pid)], c)
    lines = snoop.stdout.splitlines()
    assert lines[0].split() == ["TIME", "PID", "TID", "COMM", "ADDR", "LEN", "PROT",
                                "FLAGS", "FD", "OFF", "FILE"]
    rows = [ln.split() for ln in lines[1:]]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", r[0]) for r in rows)
    r = c.result
    shared = [x for x in rows if x[4] == f"{r['shared']:x}"]
    assert shared and shared[0][1:] == [str(c.pid), str(c.pid), "snoopkid",
                                        f"{r['shared']:x}", "4096", "rw-", "SHARED",
                                        str(r["shared_fd"]), "8192", c.shared_path]
    bad = [x for x in rows if x[4] == "ERR:EBADF"]
    assert bad and bad[0][5:10] == ["4096", "r--", "SHARED", str(BAD_FD), "0"]
    fixed = [x for x in rows if x[7] == "PRIVATE|FIXED|ANONYMOUS" and x[5] == "4096"]
    assert fixed and fixed[0][4] == f"{r['anon']:x}" and fixed[0][8] == "-"
    ex = [x for x in rows if x[6] == "r-x" and x[4] == f"{r['exec']:x}"]
    assert ex and ex[0][-1] == os.path.realpath(c.exec_path)


def _link_progs() -> dict[int, str]:
    """Every BPF link in the system: link id -> name of its program."""
    from libbpfpy._raw import RECORDS, lib
    from libbpfpy.link import LinkInfo
    out = {}
    cur = ctypes.c_uint32(0)
    while lib.bpf_link_get_next_id(cur.value, ctypes.byref(cur)) == 0:
        fd = lib.bpf_link_get_fd_by_id(cur.value)
        if fd < 0:
            continue
        try:
            prog_id = LinkInfo.from_fd(fd).prog_id
        finally:
            os.close(fd)
        pfd = lib.bpf_prog_get_fd_by_id(prog_id)
        if pfd < 0:
            continue
        try:
            info = RECORDS["bpf_prog_info"]()
            size = ctypes.c_uint32(ctypes.sizeof(info))
            lib.bpf_obj_get_info_by_fd(pfd, ctypes.byref(info), ctypes.byref(size))
            out[cur.value] = bytes(info.name).split(b"\0")[0].decode()
        finally:
            os.close(pfd)
    return out


@pytest.mark.root
def test_sigint_leaves_no_link_behind(child):
    from libbpfpy.tools.mmapsnoop import PROGRAMS, choose_attach, detect_features
    # whichever way the tool attaches on this kernel: fentry where it can
    names = PROGRAMS[choose_attach(None, detect_features()).strategy]
    before = _link_progs()
    snoop = Snoop("-p", "1")
    try:
        snoop.wait_ready()
        during = _link_progs()
        # kernel program names are cut at 15 characters
        ours = {i for i, name in during.items() if i not in before and name in {
            n[:15] for n in names}}
        assert len(ours) == 2, during
        rc = snoop.stop(signal.SIGINT)
    finally:
        snoop.kill()
    assert rc == 0
    assert not ours & set(_link_progs())
    assert re.fullmatch(r"mmapsnoop: 0 events, 0 dropped\n", snoop.stderr[-1])


@pytest.mark.root
def test_sigterm_and_duration_end_cleanly():
    snoop = Snoop("-p", "1")
    try:
        snoop.wait_ready()
        rc = snoop.stop(signal.SIGTERM)
    finally:
        snoop.kill()
    assert rc == 0 and "0 events, 0 dropped" in snoop.stderr[-1]
    # -d ends it by itself (the timeout only catches a hang: start-up under a slow
    # emulated guest takes seconds)
    res = subprocess.run(TOOL + ["-d", "0.5", "-p", "1"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0
    assert res.stderr.splitlines()[-1] == "mmapsnoop: 0 events, 0 dropped"
    assert res.stdout.split() == ["TIME", "PID", "TID", "COMM", "ADDR", "LEN", "PROT",
                                  "FLAGS", "FD", "OFF", "FILE"]


@pytest.mark.root
def test_verbose_reports_the_probed_strategy():
    from libbpfpy.tools.mmapsnoop import choose_attach, detect_features
    expected = choose_attach(None, detect_features()).strategy
    res = subprocess.run(TOOL + ["-v", "-d", "0.2", "-p", "1"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert f"mmapsnoop: attaching via {expected}\n" in res.stderr
    for name, feature in (("kprobe", probe.kprobes()), ("fentry", probe.fentry())):
        assert f"{name}: {'yes' if feature else 'no'} (" in res.stderr


@pytest.mark.root
def test_forced_strategies_fail_clearly_where_the_kernel_lacks_them():
    for strategy, feature in (("kprobe", probe.kprobes()), ("fentry", probe.fentry())):
        res = subprocess.run(TOOL + ["--attach", strategy, "-d", "0.2", "-p", "1"],
                             capture_output=True, text=True, timeout=30)
        if feature:
            assert res.returncode == 0, res.stderr
            assert f"tracing mmap() via {strategy}" in res.stderr
        else:
            assert res.returncode == 1
            assert "Traceback" not in res.stderr
            assert len(res.stderr.strip().splitlines()) == 1, res.stderr
            line = res.stderr.strip().splitlines()[-1]
            assert line.startswith("mmapsnoop: ") and feature.reason in line, line
            assert "--attach tracepoint" in line or "use a tracepoint" in line or \
                "use the tracepoint syscalls:sys_enter_mmap" in line


@pytest.mark.root
def test_without_privileges_it_says_so():
    def drop() -> None:
        # Stay root but empty the capability bounding set: exec then grants none.
        libc = ctypes.CDLL(None, use_errno=True)
        cap = 0
        while libc.prctl(24, cap, 0, 0, 0) == 0:      # PR_CAPBSET_DROP
            cap += 1
    res = subprocess.run(TOOL, capture_output=True, text=True, timeout=30,
                         preexec_fn=drop, cwd="/")
    assert res.returncode == 1
    assert res.stderr.startswith("mmapsnoop: needs BPF privileges")
    assert "Traceback" not in res.stderr and res.stdout == ""


_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "s390x": 351,
                "ppc64le": 361}


def _deny_bpf_syscall() -> None:
    """In the child before exec: a seccomp filter making bpf() fail with ENOSYS,
    as on a kernel built without CONFIG_BPF_SYSCALL."""
    class Insn(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                    ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Insn))]

    nr = _BPF_SYSCALL[os.uname().machine]
    insns = (Insn * 4)(Insn(0x20, 0, 0, 0),                  # A = seccomp_data.nr
                       Insn(0x15, 0, 1, nr),                 # if A == bpf
                       Insn(0x06, 0, 0, 0x00050000 | 38),    #   return ERRNO(ENOSYS)
                       Insn(0x06, 0, 0, 0x7FFF0000))         # return ALLOW
    prog = Prog(4, insns)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(prog), 0, 0):
        raise OSError(ctypes.get_errno(), "seccomp")


@pytest.mark.root
def test_without_bpf_support_it_says_so():
    res = subprocess.run(TOOL, capture_output=True, text=True, timeout=30,
                         preexec_fn=_deny_bpf_syscall)
    assert res.returncode == 1
    assert res.stderr.startswith("mmapsnoop: this kernel cannot run the BPF programs "
                                 "mmapsnoop needs")
    assert "CONFIG_BPF_SYSCALL" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.splitlines()) == 1


@pytest.mark.root
def test_closed_stdout_ends_quietly(child):
    c = child()
    proc = subprocess.Popen(TOOL + ["-p", str(c.pid)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("TIME")
        proc.stdout.close()                 # like `| head -1` exiting
        c.go()                              # events now hit the closed pipe
        rc = proc.wait(30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert rc == 0
    assert "Traceback" not in err and "Broken pipe" not in err
    assert "events," not in err


@pytest.mark.root
def test_kernel_drops_are_counted_and_reported():
    burst = ("import mmap, sys, time\nsys.stdin.readline()\n"
             "for _ in range(20000): mmap.mmap(-1, 4096).close()\n"
             "time.sleep(1.5)\n")
    kid = subprocess.Popen([sys.executable, "-c", burst], stdin=subprocess.PIPE)
    snoop = Snoop("--json", "--anon", "--ringbuf-size", "4K", "-p", str(kid.pid))
    try:
        snoop.wait_ready()
        kid.communicate(b"go\n", timeout=60)
        rc = snoop.stop()
    finally:
        snoop.kill()
        if kid.poll() is None:
            kid.kill()
            kid.wait()
    assert rc == 0
    err = "".join(snoop.stderr)
    m = re.search(r"mmapsnoop: (\d+) events, (\d+) dropped", err)
    assert m, err
    events, dropped = int(m.group(1)), int(m.group(2))
    assert events == len(snoop.events())
    assert dropped > 0 and events + dropped >= 20000
    assert re.search(r"mmapsnoop: \d+ events dropped by the kernel", err)


def test_console_script_and_module_help():
    script = Path(sys.executable).parent / "mmapsnoop"
    for cmd in ([str(script)], TOOL):
        res = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0
        assert res.stdout.startswith("usage: mmapsnoop")
        for opt in ("-p PID", "-t TID", "-u UID", "-n NAME", "-x", "--anon", "--file",
                    "-T", "-d SECONDS", "--json", "--ringbuf-size BYTES", "-v",
                    "--attach {fentry,kprobe,tracepoint}"):
            assert opt in res.stdout, opt


@pytest.mark.parametrize("args, message", [
    (["--ringbuf-size", "3000"], "power of two"),
    (["--ringbuf-size", "lots"], "not a size"),
    (["-n", "a-name-longer-than-15"], "1 to 15 bytes"),
    (["-p", "0"], "not a positive integer"),
    (["-d", "-1"], "not a positive number of seconds"),
    (["-u", "no-such-user-here"], "no such user"),
    (["--anon", "--file"], "not allowed with"),
    (["--attach", "uprobe"], "invalid choice"),
])
def test_bad_options_are_refused_before_anything_is_loaded(args, message):
    res = subprocess.run(TOOL + args, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr
