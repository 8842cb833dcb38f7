"""Every example in examples/ run as a user would, with its real output checked.

Each test starts ``python examples/NAME.py``, waits for the line saying it is
attached, makes the kernel do what the example watches (a child process, a
packet in a throwaway network namespace, a signal ...), stops the example with
SIGINT and checks what it printed.  A test skips only when a probe says the
kernel lacks the feature its example needs (this development host: no kprobes,
fentry and LSM refused), quoting the probe; the kernel matrix runs those where
the kernel has them.  Nothing is written outside build/ and temporary files.
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
from pathlib import Path

import pytest

from conftest import ROOT, need, send_udp, skip_unless
from libbpfpy import fs, probe
from libbpfpy.probe import Feature

pytestmark = pytest.mark.root

EXAMPLES = ROOT / "examples"
BUILD = ROOT / "build" / "examples"


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

    def wait_ready(self, timeout: float = 60) -> None:
        assert self._ready.wait(timeout), "the example did not start"
        assert self.proc.poll() is None, f"the example exited: {''.join(self.err)}"

    def stop(self, timeout: float = 30) -> str:
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

    def wait_for(self, pattern: str, timeout: float = 10) -> bool:
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


def end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout:
        proc.stdout.close()


# -- tracing ----------------------------------------------------------------------------------

def test_minimal_prints_bpf_printk_lines_from_the_trace_pipe():
    skip_unless(tracepoint("syscalls", "sys_enter_write"))
    out = run_until("minimal", trigger=lambda ex: ex.wait_for(r"TID \d+\.\n.*TID \d+\.",
                                                              timeout=8))
    lines = [ln for ln in out.splitlines() if "bpf_trace_printk" in ln]
    assert len(lines) >= 2, out
    tids = {re.search(r"BPF triggered from TID (\d+)\.", ln).group(1) for ln in lines}
    assert len(tids) == 1                                   # the heartbeat thread only


def test_bootstrap_reports_exec_and_exit_with_code_and_duration():
    skip_unless(ringbuf())
    skip_unless(tracepoint("sched", "sched_process_exec"))
    kids: list[int] = []

    def trigger(ex: Example) -> None:
        kid = subprocess.run(["/bin/sh", "-c", "echo $$; sleep 0.2; exit 3"],
                             capture_output=True, text=True)
        kids.append(int(kid.stdout))
        assert ex.wait_for(rf"EXIT\s+\S+\s+{kids[0]}\s", 10)

    out = run_until("bootstrap", trigger=trigger)
    pid = kids[0]
    execs = [ln for ln in out.splitlines() if re.search(rf"EXEC\s+sh\s+{pid}\s", ln)]
    exits = [ln for ln in out.splitlines() if re.search(rf"EXIT\s+\S+\s+{pid}\s", ln)]
    assert execs and execs[0].rstrip().endswith("/bin/sh"), out
    assert exits, out
    code, ms = re.search(r"\[(\d+)\] \((\d+)ms\)", exits[0]).groups()
    assert code == "3" and 150 <= int(ms) < 5000, exits[0]


def test_bootstrap_min_duration_filters_in_the_kernel():
    skip_unless(ringbuf())
    skip_unless(tracepoint("sched", "sched_process_exec"))
    pids: dict[str, int] = {}

    def trigger(ex: Example) -> None:
        for label, secs in (("short", "0.01"), ("long", "0.4")):
            kid = subprocess.Popen(["/bin/sleep", secs])
            kid.wait()
            pids[label] = kid.pid
        assert ex.wait_for(rf"EXIT\s+sleep\s+{pids['long']}\s", 10)

    out = run_until("bootstrap", "-d", "250", trigger=trigger)
    assert re.search(rf"EXIT\s+sleep\s+{pids['long']}\s+\d+\s+\[0\] \((\d{{3,}})ms\)", out)
    assert not re.search(rf"\s{pids['short']}\s", out)       # lived 10 ms: filtered out
    assert " EXEC " not in out                              # with -d, exits only


def test_uprobe_sees_arguments_and_return_values(target):
    skip_unless(probe.uprobes())
    skip_unless(ringbuf())
    procs = []

    def trigger(ex: Example) -> None:
        procs.append(start_target(target, "calls", "4"))
        assert ex.wait_for(rf"pid {procs[0].pid}: add_numbers\(3, 6\)\n"
                           rf"pid {procs[0].pid}: add_numbers returned 9", 10)

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
        assert ex.wait_for(rf"pid {procs[0].pid}: .* seq=2 ", 10)

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


def test_kprobe_traces_unlink_and_kill():
    skip_unless(probe.kprobes())
    skip_unless(ringbuf())
    done: list[tuple[str, int]] = []

    def trigger(ex: Example) -> None:
        done.append(unlink_a_file())
        os.kill(os.getpid(), 0)
        assert ex.wait_for(rf"kill\({os.getpid()}, 0\)", 10)

    out = run_until("kprobe", trigger=trigger)
    name, pid = done[0]
    assert re.search(rf"pid {pid}: do_unlinkat\('[^']*{name}'\)\npid {pid}: do_unlinkat "
                     r"returned 0", out), out
    assert f"pid {pid}: kill({pid}, 0)" in out


def test_fentry_traces_unlink_with_its_result():
    skip_unless(probe.fentry())
    if probe.kernel_btf_id("do_unlinkat") < 0:
        skip_unless(Feature("fentry", False, "no do_unlinkat in this kernel's BTF"))
    skip_unless(ringbuf())
    done: list[tuple[str, int]] = []

    def trigger(ex: Example) -> None:
        done.append(unlink_a_file())
        assert ex.wait_for(r"fexit do_unlinkat", 10)

    out = run_until("fentry", trigger=trigger)
    name, pid = done[0]
    assert re.search(rf"pid {pid}: fentry do_unlinkat\('[^']*{name}'\)", out), out
    assert re.search(rf"pid {pid}: fexit do_unlinkat\('[^']*{name}'\) = 0", out), out


def test_lsm_denies_signals_to_the_protected_process():
    skip_unless(probe.lsm())
    skip_unless(ringbuf())
    victim = subprocess.Popen(["/bin/sleep", "60"])
    try:
        def trigger(ex: Example) -> None:
            with pytest.raises(PermissionError):
                os.kill(victim.pid, signal.SIGTERM)
            os.kill(victim.pid, 0)                       # signal 0 stays allowed
            assert victim.poll() is None
            assert ex.wait_for("denied SIGTERM", 10)

        out = run_until("lsm", "-p", str(victim.pid), trigger=trigger)
        assert f"denied SIGTERM to pid {victim.pid} from pid {os.getpid()}" in out
        os.kill(victim.pid, signal.SIGTERM)              # detached: allowed again
        assert victim.wait(10) == -signal.SIGTERM
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_task_iter_lists_a_known_process():
    skip_unless(probe.iterators())
    kid = subprocess.Popen(["/bin/sleep", "30"])
    try:
        res = subprocess.run([sys.executable, str(EXAMPLES / "task_iter.py"), "-n", "sleep"],
                             capture_output=True, text=True, timeout=60)
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
    spinner = start_target(target, "spin", "6")
    try:
        out = run_until("profile", "-p", str(spinner.pid), "-F", "199", "-n", "20",
                        trigger=lambda ex: time.sleep(2.5))
    finally:
        end(spinner)
    assert re.search(r"^\d+ samples$", out, re.M), out
    assert f"in target (pid {spinner.pid}):" in out
    assert re.search(r"\[u\] (spin|main)\+0x[0-9a-f]+ \[target\]", out), out
    # Half of spin()'s time is in getppid(2): some samples caught the kernel side,
    # named from /proc/kallsyms.
    assert re.search(r"\[k\] [A-Za-z_][\w.]*\+0x[0-9a-f]+", out), out


# -- networking (in throwaway network namespaces) --------------------------------------------

def test_tc_counts_ingress_packets_by_protocol(veth_pair):
    skip_unless(probe.prog_type("sched_cls"))
    a, b = veth_pair

    def trigger(ex: Example) -> None:
        with b.inside():
            send_udp("10.77.0.1", 9, 25)
        assert ex.wait_for(r"UDP: 2\d packets", 10)

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
                s.settimeout(0.3)
                socks[port] = s
        try:
            with b.inside():
                for port in (7001, 7002):
                    send_udp("10.77.0.1", port, 10)
            for port, s in socks.items():
                n = 0
                try:
                    while True:
                        s.recv(100)
                        n += 1
                except TimeoutError:
                    pass
                received[port] = n
        finally:
            for s in socks.values():
                s.close()
        assert ex.wait_for(r"port 7001: 10 dropped", 10)

    out = run_until("xdp", "-i", "va", "-p", "7001", trigger=trigger, netns=a.name)
    assert received == {7001: 0, 7002: 10}
    dropped, passed = map(int, re.findall(r"port 7001: (\d+) dropped, (\d+) passed",
                                          out)[-1])
    assert dropped == 10 and passed >= 10


def test_sockfilter_reports_packets_with_addresses_and_ports(netns_factory):
    skip_unless(probe.prog_type("socket_filter"))
    skip_unless(ringbuf())
    ns = netns_factory()

    def trigger(ex: Example) -> None:
        with ns.inside():
            send_udp("127.0.0.1", 7777, 3)
        assert ex.wait_for(r"UDP\s+127\.0\.0\.1:\d+ -> 127\.0\.0\.1:7777", 10)

    out = run_until("sockfilter", "-i", "lo", trigger=trigger, netns=ns.name)
    seen = re.findall(r"lo (out|in )\s+UDP\s+127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:7777", out)
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
