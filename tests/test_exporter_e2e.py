"""End to end: the exporter with the shipped example configs, scraped every second by
a real Prometheus server, checked through Prometheus's HTTP API against load this
test generates (system calls and mmap() calls from a child with a known name)."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, need, wait_for

# Debian's prometheus, unpacked by make setup (not installed: no service starts)
PROMETHEUS = ROOT / "build" / "prometheus" / "usr" / "bin" / "prometheus"
# Seconds between scrapes: 1, as a fleet would use; 5 inside the kernel matrix's
# emulated guests (LIBBPFPY_VM), where a scrape alone can take a second.
SCRAPE = 5 if os.environ.get("LIBBPFPY_VM") else 1

pytestmark = pytest.mark.root

COMM = "lbpfpy-e2e"
SYSCALLS = 5000  # getppid() calls the child makes
MMAPS = 300      # anonymous PROT_READ mmap() calls it makes

# The child names itself, makes the calls, and says how many it made.
LOAD_CHILD = f"""
import ctypes, mmap, os
ctypes.CDLL(None).prctl(15, {COMM.encode()!r})  # PR_SET_NAME
for _ in range({SYSCALLS}):
    os.getppid()
maps = [mmap.mmap(-1, 4096, prot=mmap.PROT_READ) for _ in range({MMAPS})]
for m in maps:
    m.close()
print("done", flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """A Prometheus server on loopback with its own config and storage."""

    def __init__(self, tmp, target: str) -> None:
        self.port = free_port()
        config = tmp / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {SCRAPE}s\n  scrape_timeout: {SCRAPE}s\n"
            "scrape_configs:\n  - job_name: libbpfpy\n    static_configs:\n"
            f"      - targets: ['{target}']\n")
        self.log = tmp / "prometheus.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={config}",
                 f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)

    def get(self, path: str, **params: str) -> dict:
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready",
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        answer = self.get("/api/v1/query", **params)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def exporter_port():
    proc = subprocess.Popen(
        [sys.executable, "-m", "libbpfpy", "exporter", "--names", "syscalls,mmap,latency",
         "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = []
        port = None
        while port is None:
            line = proc.stderr.readline()
            assert line, "exporter exited:\n" + "".join(seen)
            seen.append(line)
            m = re.search(r"serving metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            port = int(m.group(1)) if m else None
        assert "not enabled" not in "".join(seen), "".join(seen)
        yield port
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_prometheus_scrapes_the_examples(tmp_path, exporter_port):
    need(PROMETHEUS.exists(), f"no {PROMETHEUS}")
    need(importlib.util.find_spec("prometheus_client") is not None,
         "prometheus_client (the exporter extra) not installed")
    start = time.monotonic()
    prom = Prometheus(tmp_path, f"127.0.0.1:{exporter_port}")
    try:
        assert wait_for(prom.ready, 60, 0.2), prom.log.read_text()
        assert wait_for(lambda: prom.value('up{job="libbpfpy"}') == 1, 30 * SCRAPE, 0.2), \
            prom.query("up")

        child = subprocess.run([sys.executable, "-c", LOAD_CHILD], capture_output=True,
                               text=True, timeout=120)
        assert child.stdout == "done\n", child.stderr

        syscalls = f'libbpfpy_syscalls_total{{comm="{COMM}",syscall="getppid"}}'
        mmaps = f'libbpfpy_mmap_calls_total{{comm="{COMM}",prot="r--",kind="anonymous"}}'
        assert wait_for(lambda: (prom.value(syscalls) or 0) >= SYSCALLS and
                        (prom.value(mmaps) or 0) >= MMAPS, 30 * SCRAPE, 0.25), \
            (prom.query(syscalls), prom.query(mmaps))
        # the child made each of these calls once each: nothing else has its name
        assert prom.value(syscalls) < SYSCALLS + 50
        assert prom.value(mmaps) < MMAPS + 50

        # The latency histogram of getppid(): its buckets, as Prometheus stored them
        # from one scrape, grow with le and end at _count, which covers the load.
        at = time.time()
        series = 'libbpfpy_syscall_latency_seconds{suffix}{{syscall="getppid"}}'
        buckets = sorted(((float(r["metric"]["le"]), float(r["value"][1]))
                          for r in prom.query(series.format(suffix="_bucket"), at)),
                         key=lambda b: b[0])
        (count,) = prom.query(series.format(suffix="_count"), at)
        (total,) = prom.query(series.format(suffix="_sum"), at)
        assert len(buckets) == 36 and buckets[-1][0] == math.inf
        values = [v for _, v in buckets]
        assert values == sorted(values), buckets
        assert values[-1] == float(count["value"][1]) >= SYSCALLS
        assert 0 < float(total["value"][1]) < values[-1] * 1.0  # under 1 s per call

        for config in ("syscalls", "mmap", "latency"):
            assert prom.value(f'libbpfpy_exporter_enabled_configs{{config="{config}"}}') == 1
        assert prom.value("libbpfpy_exporter_bpf_stats_enabled") == 1
        runs = prom.value('libbpfpy_exporter_program_runs_total{program="count_syscall"}')
        assert runs is not None and runs >= SYSCALLS
    finally:
        prom.stop()
    print(f"\ne2e: Prometheus start to checks done in {time.monotonic() - start:.1f} s")
    assert prom.proc.returncode == 0, prom.log.read_text()
    assert os.path.isdir(tmp_path / "data")
