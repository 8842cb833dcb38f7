"""Every example in examples/ run as a user would, with its real output checked.

Each test starts ``python examples/NAME.py``, waits for the line saying it is
attached, makes the kernel do what the example watches (a child process, a
packet in a throwaway network namespace, a signal ...), stops the example with
SIGINT and checks what it printed.  A test skips only when a probe says the
kernel lacks the feature its example needs (this development host: no kprobes,
fentry and LSM refused), quoting the probe; the kernel matrix runs those where
the kernel has them.  Nothing is written outside build/ and temporary files.

The kernel matrix runs the same tests in guests that qemu emulates (TCG): ten or
more times slower than a host, on one CPU that the example shares with what it
watches.  So every wait is for an event (a line printed, CPU time consumed) with a
deadline far beyond what it needs, and no assertion depends on how fast anything
ran: where a duration matters, the test measures it.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest

from conftest import ROOT, need, send_udp, skip_unless, wait_for
from libbpfpy import fs, probe
from libbpfpy.probe import Feature

pytestmark = pytest.mark.root

EXAMPLES = ROOT / "examples"
BUILD = ROOT / "build" / "examples"
# Deadlines in seconds: generous, for emulated guests; each wait ends as soon as
# what it waits for happens.
START = 300     # an example starting: Python, libbpfpy, BTF, the verifier, attaching
EVENT = 60      # a line appearing in an example's output once the kernel did it


def _examples_common():
    """examples/common.py, the examples' shared module (it knows the names the
    kernel has given unlink(2)'s function)."""
    spec = spec_from_file_location("examples_common", EXAMPLES / "common.py")
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


UNLINK_FUNCTIONS: tuple[str, ...] = _examples_common().UNLINK_FUNCTIONS


def ringbuf() -> Feature:
    return probe.map_type("ringbuf")


def tracepoint(category: str, name: str) -> Feature:
    if not fs.tracefs_path():
        return Feature("tracepoint", False, "tracefs is not mounted")
    if not fs.tracepoint_exists(category, name):
        return Feature("tracepoint", False, f"no tracepoint {category}:{name} in tracefs")
    return probe.prog_type("tracepoint")


class Example:
    """One example running in the background, its output collected by threads."""

    def __init__(self, name: str, *args: str, netns: str | None = None) -> None:
        cmd = [sys.executable, str(EXAMPLES / f"{name}.py"), *args]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._ready = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self.out),
                                      (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)
            if "(Ctrl-C to stop)" in line:
                self._ready.set()
        self._ready.set()           # the stream ended: no need to wait longer

    def wait_ready(self, timeout: float = START) -> None:
        assert self._ready.wait(timeout), "the example did not start"
        assert self.proc.poll() is None, f"the example exited: {''.join(self.err)}"

    def stop(self, timeout: float = START) -> str:
        """SIGINT (Ctrl-C), then the whole standard output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}: {''.join(self.err)}"
        return "".join(self.out)

    def wait_for(self, pattern: str, timeout: float = EVENT) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, "".join(self.out)):
                return True
            time.sleep(0.05)
        return False


def run_until(name: str, *args: str, trigger, netns: str | None = None) -> str:
    ex = Example(name, *args, netns=netns)
    try:
        ex.wait_ready()
        trigger(ex)
    finally:
        out = ex.stop()
    return out


@pytest.fixture(scope="module")
def target() -> str:
    """build/examples/target (examples/target.c): what uprobe, usdt and profile trace."""
    path = BUILD / "target"
    src = EXAMPLES / "target.c"
    if not path.exists() or path.stat().st_mtime < src.stat().st_mtime:
        need(subprocess.run(["which", "gcc"], capture_output=True).returncode == 0,
             "gcc not installed")
        BUILD.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", tmp, str(src)],
                       check=True)
        os.replace(tmp, path)
    return str(path)


def start_target(binary: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([binary, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["ready", str(proc.pid)]
    return proc


def proc_stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name: state, ppid ..."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The user and system CPU time process ``pid`` has used."""
    fields = proc_stat(pid)
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick   # utime, stime


def end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout:
        proc.stdout.close()


# -- tracing ----------------------------------------------------------------------------------

def test_minimal_prints_bpf_printk_lines_from_the_trace_pipe():
    skip_unless(tracepoint("syscalls", "sys_enter_write"))
    out = run_until("minimal", trigger=lambda ex: ex.wait_for(r"TID \d+\.\n.*TID \d+\."))
    lines = [ln for ln in out.splitlines() if "bpf_trace_printk" in ln]
    assert len(lines) >= 2, out
    tids = {re.search(r"BPF triggered from TID (\d+)\.", ln).group(1) for ln in lines}
    assert len(tids) == 1                                   # the heartbeat thread only


def run_child(argv: list[str]) -> tuple[int, float, str]:
    """Run ``argv`` to its end: its pid, its lifetime as seen from here (an upper
    bound of the exec-to-exit time the kernel measures) and its output."""
    t0 = time.monotonic()
    kid = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out, _ = kid.communicate()
    return kid.pid, time.monotonic() - t0, out


def exits(out: str, pid: int) -> list[str]:
    return [ln for ln in out.splitlines() if re.search(rf" EXIT\s+\S+\s+{pid}\s", ln)]


def test_bootstrap_reports_exec_and_exit_with_code_and_duration():
    skip_unless(ringbuf())
    skip_unless(tracepoint("sched", "sched_process_exec"))
    kids: list[tuple[int, float]] = []

    def trigger(ex: Example) -> None:
        pid, lifetime, said = run_child(["/bin/sh", "-c", "echo $$; sleep 0.2; exit 3"])
        assert int(said) == pid
        kids.append((pid, lifetime))
        assert ex.wait_for(rf"EXIT\s+\S+\s+{pid}\s")

    out = run_until("bootstrap", trigger=trigger)
    pid, lifetime = kids[0]
    execs = [ln for ln in out.splitlines() if re.search(rf" EXEC\s+sh\s+{pid}\s", ln)]
    assert execs and execs[0].rstrip().endswith("/bin/sh"), out
    assert exits(out, pid), out
    code, ms = re.search(r"\[(\d+)\] \((\d+)ms\)", exits(out, pid)[0]).groups()
    assert code == "3", exits(out, pid)
    # It slept 0.2 s between its exec and its exit, and lived no longer than this
    # test saw it live.
    assert 200 <= int(ms) <= lifetime * 1000, (exits(out, pid), lifetime)


def test_bootstrap_min_duration_filters_in_the_kernel():
    skip_unless(ringbuf())
    skip_unless(tracepoint("sched", "sched_process_exec"))
    min_ms = 1000
    short: list[tuple[int, float]] = []
    long: list[int] = []

    def trigger(ex: Example) -> None:
        # Short-lived processes, until three of them demonstrably lived less than
        # the minimum (a busy emulated guest can stretch one past it).
        for _ in range(20):
            pid, lifetime, _ = run_child(["/bin/true"])
            short.append((pid, lifetime))
            if sum(1 for _, secs in short if secs * 1000 < min_ms) == 3:
                break
        pid, _, _ = run_child(["/bin/sleep", "1.5"])
        long.append(pid)
        # One ring buffer, in order: when the long one's exit is out, the short
        # ones' would be too, had the kernel sent them.
        assert ex.wait_for(rf"EXIT\s+sleep\s+{pid}\s")

    out = run_until("bootstrap", "-d", str(min_ms), trigger=trigger)
    ms = re.search(rf" EXIT\s+sleep\s+{long[0]}\s+\d+\s+\[0\] \((\d+)ms\)", out)
    assert ms and int(ms.group(1)) >= 1500, out
    # The kernel's exec-to-exit time is at most the lifetime measured here: those
    # shorter than the minimum must have been filtered out.
    surely_short = [pid for pid, lifetime in short if lifetime * 1000 < min_ms]
    assert surely_short, f"no /bin/true ran in under {min_ms} ms: {short}"
    for pid in surely_short:
        assert not exits(out, pid), out
    assert " EXEC " not in out                              # with -d, exits only


def test_uprobe_sees_arguments_and_return_values(target):
    skip_unless(probe.uprobes())
    skip_unless(ringbuf())
    procs = []

    def trigger(ex: Example) -> None:
        procs.append(start_target(target, "calls", "4"))
        assert ex.wait_for(rf"pid {procs[0].pid}: add_numbers\(3, 6\)\n"
                           rf"pid {procs[0].pid}: add_numbers returned 9")

    try:
        out = run_until("uprobe", "--binary", target, trigger=trigger)
    finally:
        for p in procs:
            end(p)
    pid = procs[0].pid
    for i in range(4):
        assert f"pid {pid}: add_numbers({i}, {2 * i})\npid {pid}: add_numbers returned " \
            f"{3 * i}\n" in out


def test_usdt_reads_the_probe_arguments(target):
    skip_unless(probe.uprobes())
    skip_unless(ringbuf())
    procs = []

    def trigger(ex: Example) -> None:
        procs.append(start_target(target, "calls", "3"))
        assert ex.wait_for(rf"pid {procs[0].pid}: .* seq=2 ")

    try:
        out = run_until("usdt", "--binary", target, trigger=trigger)
    finally:
        for p in procs:
            end(p)
    pid = procs[0].pid
    for i in range(3):
        assert f"pid {pid}: libbpfpy_target:tick seq={i} label='tick'" in out


def unlink_a_file() -> tuple[str, int]:
    fd, path = tempfile.mkstemp(prefix="libbpfpy-example-")
    os.close(fd)
    os.unlink(path)
    return os.path.basename(path), os.getpid()


def unlink_traced(out: str, pid: int, name: str, entry: str, result: str) -> bool:
    """Whether ``out`` shows pid's unlink of ``name`` (``entry``) followed by its result
    (``result``), under any of the kernel's names for the function (``{fn}``)."""
    mine = "\n".join(ln for ln in out.splitlines() if ln.startswith(f"pid {pid}: "))
    fn = "(?P<fn>" + "|".join(UNLINK_FUNCTIONS) + ")"
    pattern = entry.format(fn=fn, name=name) + r"\n" + result.format(fn="(?P=fn)", name=name)
    return re.search(pattern, mine) is not None


def test_kprobe_traces_unlink_and_kill():
    skip_unless(probe.kprobes())
    skip_unless(ringbuf())
    done: list[tuple[str, int]] = []

    def trigger(ex: Example) -> None:
        done.append(unlink_a_file())
        os.kill(os.getpid(), 0)
        assert ex.wait_for(rf"kill\({os.getpid()}, 0\)")

    out = run_until("kprobe", trigger=trigger)
    name, pid = done[0]
    assert unlink_traced(out, pid, name, rf"pid {pid}: {{fn}}\('[^']*{{name}}'\)",
                         rf"pid {pid}: {{fn}} returned 0"), out
    assert f"pid {pid}: kill({pid}, 0)" in out


def test_fentry_traces_unlink_with_its_result():
    skip_unless(probe.fentry())
    if all(probe.kernel_btf_id(fn) < 0 for fn in UNLINK_FUNCTIONS):
        skip_unless(Feature("fentry", False, f"none of {', '.join(UNLINK_FUNCTIONS)} "
                            "in this kernel's BTF"))
    skip_unless(ringbuf())
    done: list[tuple[str, int]] = []

    def trigger(ex: Example) -> None:
        done.append(unlink_a_file())
        assert ex.wait_for(rf"pid {os.getpid()}: fexit ")

    out = run_until("fentry", trigger=trigger)
    name, pid = done[0]
    assert unlink_traced(out, pid, name, rf"pid {pid}: fentry {{fn}}\('[^']*{{name}}'\)",
                         rf"pid {pid}: fexit {{fn}}\('[^']*{{name}}'\) = 0"), out


def test_lsm_denies_signals_to_the_protected_process():
    skip_unless(probe.lsm())
    skip_unless(ringbuf())
    victim = subprocess.Popen(["/bin/sleep", "600"])
    try:
        def trigger(ex: Example) -> None:
            with pytest.raises(PermissionError):
                os.kill(victim.pid, signal.SIGTERM)
            os.kill(victim.pid, 0)                       # signal 0 stays allowed
            assert victim.poll() is None
            assert ex.wait_for("denied SIGTERM")

        out = run_until("lsm", "-p", str(victim.pid), trigger=trigger)
        assert f"denied SIGTERM to pid {victim.pid} from pid {os.getpid()}" in out
        os.kill(victim.pid, signal.SIGTERM)              # detached: allowed again
        assert victim.wait(EVENT) == -signal.SIGTERM
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_task_iter_lists_a_known_process():
    skip_unless(probe.iterators())
    kid = subprocess.Popen(["/bin/sleep", "600"])
    try:
        res = subprocess.run([sys.executable, str(EXAMPLES / "task_iter.py"), "-n", "sleep"],
                             capture_output=True, text=True, timeout=START)
    finally:
        kid.kill()
        kid.wait()
    assert res.returncode == 0, res.stderr
    rows = [ln.split() for ln in res.stdout.splitlines()[1:]]
    assert res.stdout.split()[:4] == ["PID", "TID", "PPID", "COMM"]
    assert [str(kid.pid), str(kid.pid), str(os.getpid()), "sleep"] in rows
    assert all(r[3] == "sleep" for r in rows)


def test_profile_symbolises_kernel_and_user_stacks(target):
    skip_unless(probe.prog_type("perf_event"))
    skip_unless(ringbuf())
    freq = 199
    # The spinner waits stopped while the profiler starts (in a slow guest that
    # takes far longer than any fixed run would last, and the two would share the
    # CPU), then runs until it has used CPU time both in user space and in the
    # kernel (getppid), then stops again before the profiler prints.
    spinner = start_target(target, "spin")
    os.kill(spinner.pid, signal.SIGSTOP)
    used: list[float] = []

    def trigger(ex: Example) -> None:
        user0, sys0 = cpu_seconds(spinner.pid)
        os.kill(spinner.pid, signal.SIGCONT)

        def ran() -> bool:
            user, system = cpu_seconds(spinner.pid)
            return user - user0 >= 0.5 and system - sys0 >= 0.5
        try:
            assert wait_for(ran, EVENT), "the spinner did not get the CPU"
        finally:
            os.kill(spinner.pid, signal.SIGSTOP)
        assert wait_for(lambda: proc_stat(spinner.pid)[0] == "T", EVENT)   # stopped
        user, system = cpu_seconds(spinner.pid)
        used.append(user - user0 + system - sys0)

    try:
        out = run_until("profile", "-p", str(spinner.pid), "-F", str(freq), "-n", "20",
                        trigger=trigger)
    finally:
        end(spinner)
    total = re.search(r"^(\d+) samples$", out, re.M)
    assert total, out
    # A sample every 1/freq s of CPU the spinner used (allowing for coarse tick-based
    # CPU accounting), and none of anyone else's: the pid filter works in the kernel.
    assert int(total.group(1)) >= used[0] * freq / 4, (used, out)
    stacks = re.findall(r"^\d+ samples \([\d.]+%\) in (\S+) \(pid (\d+)\):$", out, re.M)
    assert stacks and set(stacks) == {("target", str(spinner.pid))}, out
    assert re.search(r"\[u\] (spin|main)\+0x[0-9a-f]+ \[target\]", out), out
    # Much of spin()'s time is in getppid(2): some samples caught the kernel side,
    # named from /proc/kallsyms.
    assert re.search(r"\[k\] [A-Za-z_][\w.]*\+0x[0-9a-f]+", out), out


# -- networking (in throwaway network namespaces) --------------------------------------------

def test_tc_counts_ingress_packets_by_protocol(veth_pair):
    skip_unless(probe.prog_type("sched_cls"))
    a, b = veth_pair

    def trigger(ex: Example) -> None:
        with b.inside():
            send_udp("10.77.0.1", 9, 25)
        assert ex.wait_for(r"UDP: 25 packets")

    out = run_until("tc", "-i", "va", trigger=trigger, netns=a.name)
    udp = [int(n) for n in re.findall(r"UDP: (\d+) packets, (?:\d+) bytes", out)]
    assert udp and udp[-1] == 25, out
    size = int(re.findall(r"UDP: 25 packets, (\d+) bytes", out)[-1])
    assert size == 25 * (14 + 20 + 8 + len(b"libbpfpy"))     # eth + ip + udp + payload
    left = subprocess.run(["tc", "-n", a.name, "filter", "show", "dev", "va", "ingress"],
                          capture_output=True, text=True, check=True).stdout
    assert "count_ingress" not in left          # detached when the example ended


def test_xdp_drops_one_port_and_passes_the_rest(veth_pair):
    skip_unless(probe.prog_type("xdp"))
    a, b = veth_pair
    received: dict[int, int] = {}

    def trigger(ex: Example) -> None:
        with a.inside():
            socks = {}
            for port in (7001, 7002):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("10.77.0.1", port))
                socks[port] = s
        try:
            with b.inside():
                for port in (7001, 7002):
                    send_udp("10.77.0.1", port, 10)
            # Both ports' packets have been through the XDP program once it
            # counted all ten drops and the ten to 7002 arrived; then whatever
            # reached port 7001 is queued on its socket.
            assert ex.wait_for(r"port 7001: 10 dropped")
            socks[7002].settimeout(EVENT)
            received[7002] = sum(1 for _ in range(10) if socks[7002].recv(100))
            socks[7001].setblocking(False)
            received[7001] = 0
            try:
                while socks[7001].recv(100):
                    received[7001] += 1
            except BlockingIOError:
                pass
        finally:
            for s in socks.values():
                s.close()

    out = run_until("xdp", "-i", "va", "-p", "7001", trigger=trigger, netns=a.name)
    assert received == {7001: 0, 7002: 10}
    dropped, passed = map(int, re.findall(r"port 7001: (\d+) dropped, (\d+) passed",
                                          out)[-1])
    assert dropped == 10 and passed >= 10


def test_sockfilter_reports_packets_with_addresses_and_ports(netns_factory):
    skip_unless(probe.prog_type("socket_filter"))
    skip_unless(ringbuf())
    ns = netns_factory()

    line = r"lo (out|in )\s+UDP\s+127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:7777"

    def trigger(ex: Example) -> None:
        with ns.inside():
            send_udp("127.0.0.1", 7777, 3)
        # All three out (the example stops at once at SIGINT: what it has not
        # printed by then is not printed).
        sent = line.replace("(out|in )", "out")
        assert ex.wait_for(rf"(?:{sent}\n(?:.*\n)*?){{3}}")

    out = run_until("sockfilter", "-i", "lo", trigger=trigger, netns=ns.name)
    seen = re.findall(line, out)
    assert len([s for s in seen if s[0] == "out"]) == 3, out
    assert len({port for _, port in seen}) == 1               # one socket sent them


def test_every_example_is_tested_and_documented():
    names = sorted(p.stem for p in EXAMPLES.glob("*.py")
                   if p.stem not in ("common", "hello"))
    text = Path(__file__).read_text()
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert f'"{name}"' in text or f'"{name}.py"' in text, \
            f"no test runs examples/{name}.py"
        assert f"examples/{name}.py" in readme, f"README does not link examples/{name}.py"
        doc = (EXAMPLES / f"{name}.py").read_text()
        assert "Shows:" in doc and "Kernel:" in doc, f"{name}.py: docstring incomplete"
        assert (EXAMPLES / f"{name}.bpf.c").exists()
