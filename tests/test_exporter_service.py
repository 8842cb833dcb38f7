"""The exporter as a service: one config failing leaves the others serving; SIGTERM
detaches everything; the TCP retransmit example counts real retransmissions."""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("prometheus_client", reason="the exporter extra is installed by make setup")

from conftest import skip_unless, wait_for  # noqa: E402
from libbpfpy import inventory, probe  # noqa: E402
from libbpfpy.exporter import EXAMPLES, Exporter  # noqa: E402

pytestmark = pytest.mark.root

BROKEN_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpgid")
int out_of_bounds(void *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);

	if (v)
		v[1] += 1;	/* past the 8-byte value: the verifier says no */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""

BROKEN_YAML = """\
metrics:
  counters:
    - name: broken_total
      map: counts
      labels: [{name: key, size: 4}]
"""


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, val = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', head))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(val)
    return None


@pytest.fixture
def config_dir(tmp_path):
    d = tmp_path / "configs"
    d.mkdir(mode=0o755)
    for name in ("syscalls.yaml", "syscalls.bpf.c"):
        shutil.copy(os.path.join(EXAMPLES, name), d / name)
    (d / "broken.yaml").write_text(BROKEN_YAML)
    (d / "broken.bpf.c").write_text(BROKEN_C)
    return d


def test_a_failing_config_leaves_the_others_serving(config_dir, caplog):
    caplog.set_level(logging.INFO, logger="libbpfpy.exporter")
    with Exporter(config_dir, ["broken", "syscalls"], namespace="t") as exporter:
        assert not exporter.configs["broken"].enabled
        assert exporter.configs["broken"].stage == "load"
        assert exporter.configs["syscalls"].enabled
        _host, port = exporter.serve("127.0.0.1", 0)
        comm = open("/proc/self/comm").read().strip()
        for _ in range(300):
            os.getppid()
        text = scrape(port)
        assert value(text, "t_exporter_enabled_configs", config="broken") == 0
        assert value(text, "t_exporter_enabled_configs", config="syscalls") == 1
        assert value(text, "t_exporter_config_failed", config="broken", stage="load") == 1
        assert value(text, "t_syscalls_total", comm=comm, syscall="getppid") >= 300
        assert value(text, "t_exporter_programs_attached", config="syscalls",
                     program="count_syscall") == 1
        assert value(text, "t_exporter_bpf_stats_enabled") == 1
        runs = value(text, "t_exporter_program_runs_total", config="syscalls",
                     program="count_syscall")
        assert runs is not None and runs >= 300  # run counts move: stats are on
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(m.startswith("config 'broken' not enabled (load failed): ") and
               "out_of_bounds" in m for m in messages), messages


def _our_objects(prog_ids: set[int]) -> tuple[set[int], set[int]]:
    progs = {p.id for p in inventory.programs() if p.id in prog_ids}
    links = {link.id for link in inventory.links() if link.prog_id in prog_ids}
    return progs, links


def test_sigterm_detaches_everything():
    proc = subprocess.Popen(
        [sys.executable, "-m", "libbpfpy", "exporter", "--names", "syscalls,latency,mmap",
         "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        port = None
        lines = []
        deadline = time.monotonic() + 120
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"exporter exited: {''.join(lines)}"
            lines.append(line)
            m = re.search(r"serving metrics on http://127\.0\.0\.1:(\d+)/metrics", line)
            if m:
                port = int(m.group(1))
        assert port is not None
        text = scrape(port)
        ids = {int(m) for m in re.findall(
            r'^libbpfpy_exporter_programs_attached\{[^}]*id="(\d+)"', text, re.M)}
        assert len(ids) == 4  # count_syscall, syscall_enter/exit, count_mmap
        progs, links = _our_objects(ids)
        assert progs == ids and len(links) == 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        rest = proc.stderr.read()
        assert "SIGTERM: detaching and exiting" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert _our_objects(ids) == (set(), set())


def test_tcp_retransmits_by_address(veth_pair):
    skip_unless(probe.tracepoint("tcp", "tcp_retransmit_skb"))
    ns_a, ns_b = veth_pair
    with Exporter(EXAMPLES, ["tcp_retransmit"], namespace="t", stats=False) as exporter:
        state = exporter.configs["tcp_retransmit"]
        assert state.enabled, state.error
        (metric,) = state.metrics
        with ns_b.inside():
            server = socket.create_server(("10.77.0.2", 0))
        port = server.getsockname()[1]
        with ns_a.inside():
            client = socket.create_connection(("10.77.0.2", port), timeout=5)
        peer, _ = server.accept()
        try:
            client.sendall(b"hello")
            assert peer.recv(5) == b"hello"
            # The receiver stops answering: its address is gone, so segments to it
            # are dropped in its namespace, and the sender retransmits (RTO >= 200 ms).
            ns_b.ip("addr", "del", "10.77.0.2/24", "dev", "vb")
            client.sendall(b"x" * 100)
            key = ("10.77.0.1", "10.77.0.2", str(port), "ipv4")

            def retransmitted() -> bool:
                return (metric.totals() or {}).get(key, 0) >= 2
            assert wait_for(retransmitted, 10, 0.2), metric.totals()
        finally:
            for s in (client, peer, server):
                s.close()


def test_a_failing_metric_does_not_fail_the_scrape(caplog):
    with Exporter(EXAMPLES, ["syscalls", "mmap"], namespace="t", stats=False) as exporter:
        broken = exporter.configs["syscalls"].metrics[0]

        def explode():
            raise RuntimeError("decoder bug")
            yield  # a generator, like collect()
        broken.collect = explode
        names = {f.name for f in exporter.collect()}
        assert "t_mmap_calls" in names and "t_syscalls" not in names
        assert broken.read_errors == 1
        assert "t_exporter_enabled_configs" in names
    assert any("collecting t_syscalls_total failed" in r.getMessage() for r in caplog.records)
