"""What a tool's start costs: the modules mmapsnoop imports are only those its path
uses, and running it in-process leaves libbpf's log routing as it found it."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from libbpfpy import Object
from libbpfpy.tools import mmapsnoop

pytestmark = pytest.mark.root

# Standard modules the start path has no use for (each costs milliseconds and
# hundreds of kilobytes at every start).
UNUSED = {"logging", "dataclasses", "inspect", "shutil", "json", "hashlib", "tempfile",
          "asyncio", "numpy", "subprocess", "pathlib", "platform", "lzma", "bz2",
          "libbpfpy._compile", "libbpfpy._bulk"}


def test_mmapsnoop_imports_nothing_it_does_not_use():
    runner = textwrap.dedent("""
        import sys
        from libbpfpy.tools import mmapsnoop
        rc = mmapsnoop.main(["-d", "0.2", "-p", "1"])
        print(rc, " ".join(sorted(sys.modules)))
    """)
    for _ in range(2):      # the second start is warm (probe answers kept)
        res = subprocess.run([sys.executable, "-c", runner], capture_output=True,
                             text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    rc, *modules = res.stdout.strip().splitlines()[-1].split()
    assert rc == "0" and "tracing mmap()" in res.stderr
    assert "libbpfpy.ringbuf" in modules                    # it did trace
    assert UNUSED.isdisjoint(modules), UNUSED & set(modules)


def test_an_in_process_run_leaves_libbpf_messages_to_the_logger(caplog, capsys,
                                                               bpf_object_path):
    assert mmapsnoop.main(["-d", "0.1", "-p", "1"]) == 0
    capsys.readouterr()
    caplog.set_level(logging.DEBUG, logger="libbpfpy.libbpf")
    # (bytes that are no object are refused before libbpf sees them: open a real
    # one, whose opening libbpf narrates at debug level)
    with Object.open(bpf_object_path("core_maps")):
        pass
    assert any("core_maps" in r.getMessage() for r in caplog.records
               if r.name == "libbpfpy.libbpf")
