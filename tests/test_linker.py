"""The static linker (libbpf's bpf_linker): object files whose externs resolve
against each other link into one that loads and runs; inputs as paths, bytes and
fds; the output replaces its target atomically and never through a symlink; bad
inputs are refused before libbpf reads them; ``libbpfpy link OUT IN...``."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import need_privileges
from libbpfpy import BPFError, Linker, Object
from libbpfpy.linker import link

CLI = [sys.executable, "-m", "libbpfpy"]


def run_linked(path: str) -> int:
    """Load the linked object, run its XDP program twice: counter = 2 * (3*7 + 5)."""
    need_privileges()
    with Object.open(path) as obj:
        obj.load()
        assert obj.programs["linked"].test_run(b"\0" * 64, repeat=2).retval == 2
        return int(obj.maps["counter"][0])


def test_linked_object_loads_and_runs(bpf_object_path, tmp_path):
    main, lib_ = bpf_object_path("link_main"), bpf_object_path("link_lib")
    with pytest.raises(BPFError, match="extern 'scale'"):   # unresolved on its own
        Object.open(main)
    out = tmp_path / "linked.bpf.o"
    link(out, [main, lib_])
    assert run_linked(str(out)) == 52
    # the same from bytes and from an fd (add_buf/add_fd, or /proc/self/fd before 1.6)
    out2 = tmp_path / "linked2.bpf.o"
    with open(lib_, "rb") as f, Linker(out2) as linker:
        linker.add(open(main, "rb").read()).add(f.fileno())
        linker.finalize()
        assert linker.closed
    assert run_linked(str(out2)) == 52
    assert sorted(os.listdir(tmp_path)) == ["linked.bpf.o", "linked2.bpf.o"]


def test_output_fd_and_cli(bpf_object_path, tmp_path):
    main, lib_ = bpf_object_path("link_main"), bpf_object_path("link_lib")
    target = tmp_path / "by_fd.bpf.o"
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with Linker(fd) as linker:
            linker.add(main).add(lib_)
            linker.finalize()
    finally:
        os.close(fd)
    assert run_linked(str(target)) == 52
    cli_out = tmp_path / "cli.bpf.o"
    res = subprocess.run(CLI + ["link", str(cli_out), main, lib_], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert run_linked(str(cli_out)) == 52
    res = subprocess.run(CLI + ["link", str(tmp_path / "x.o"), main, "/etc/hostname"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == ["libbpfpy: /etc/hostname is not an ELF file"]
    assert not (tmp_path / "x.o").exists()
    # `libbpfpy link list` still lists the kernel's links
    res = subprocess.run(CLI + ["link", "list"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.split()[:2] == ["ID", "TYPE"]


def test_bad_inputs_are_refused_and_leave_nothing(bpf_object_path, tmp_path, c_binary):
    out = tmp_path / "out.bpf.o"
    with Linker(out) as linker:
        with pytest.raises(BPFError, match="is not an ELF file"):
            linker.add(b"garbage" * 20)
        with pytest.raises(BPFError, match="not a BPF object file"):
            linker.add(c_binary("multi_target"))    # an x86-64 executable
        with pytest.raises(BPFError, match="cannot read"):
            linker.add(tmp_path / "missing.o")
        with pytest.raises(BPFError, match="is not an ELF file"):
            linker.add(b"\x7fELF")
    assert os.listdir(tmp_path) == []               # no output, no temporary file


def test_output_replaces_a_symlink_without_writing_through_it(bpf_object_path, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "out.bpf.o").symlink_to(victim)
    link(tmp_path / "out.bpf.o", [bpf_object_path("link_main"), bpf_object_path("link_lib")])
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "out.bpf.o").is_symlink()
    assert run_linked(str(tmp_path / "out.bpf.o")) == 52


def test_unresolvable_link_fails_cleanly(bpf_object_path, tmp_path):
    # The same strong symbol twice: libbpf's linker refuses it; nothing is left.
    lib_ = bpf_object_path("link_lib")
    with pytest.raises(BPFError, match="bpf_linker__add_"):
        link(tmp_path / "dup.bpf.o", [lib_, lib_])
    assert os.listdir(tmp_path) == []
