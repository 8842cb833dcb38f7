"""Probe answers kept for the boot: a warm start loads no probe program and no kernel
BTF; answers from another boot, another libbpf, a symlink or a process without
privileges are not used."""
from __future__ import annotations

import os

import pytest

from libbpfpy import probe
from libbpfpy._raw import lib
from libbpfpy.tools import mmapsnoop

pytestmark = pytest.mark.root


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A private cache directory and a probe module that has answered nothing yet;
    ``fresh()`` forgets this process's answers again (a new start)."""
    monkeypatch.setenv("LIBBPFPY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LIBBPFPY_PROBE_CACHE", raising=False)

    def restart():
        for fn in (probe.prog_type, probe.map_type, probe.helper, probe.fentry,
                   probe.lsm, probe.iterators, probe.tp_btf):
            fn.cache_clear()
        monkeypatch.setattr(probe, "_store", probe._Store())
    restart()
    yield restart
    for fn in (probe.prog_type, probe.map_type, probe.helper, probe.fentry, probe.lsm,
               probe.iterators, probe.tp_btf):
        fn.cache_clear()


def forbid_probing(monkeypatch):
    """Make every way of probing the kernel fail the test."""
    def refuse(*args):
        raise AssertionError("a probe loaded a program or the kernel's BTF")
    for name in ("bpf_prog_load", "libbpf_probe_bpf_prog_type", "libbpf_probe_bpf_map_type",
                 "libbpf_probe_bpf_helper", "btf__load_vmlinux_btf"):
        monkeypatch.setattr(lib, name, refuse)


def store_file(tmp_path):
    return tmp_path / "cache" / "probes"


def cold_answers():
    return {"fentry": probe.fentry(), "iter": probe.iterators(),
            "tracepoint": probe.prog_type("tracepoint"),
            "ringbuf": probe.map_type("ringbuf"),
            "helper": probe.helper("tracepoint", "bpf_ringbuf_output"),
            "btf_id": probe.kernel_btf_id(mmapsnoop.syscall_function()),
            "features": mmapsnoop.detect_features()}


def test_a_warm_start_loads_no_probe_program(fresh, tmp_path, monkeypatch):
    cold = cold_answers()
    text = store_file(tmp_path).read_text()
    assert text.startswith("libbpfpy-probes-1\nboot ")
    assert oct(store_file(tmp_path).stat().st_mode & 0o777) == "0o600"
    fresh()
    forbid_probing(monkeypatch)
    warm = cold_answers()
    assert warm == cold
    assert bool(warm["tracepoint"]) and warm["btf_id"] == cold["btf_id"]


def test_answers_of_another_boot_or_libbpf_are_not_used(fresh, tmp_path, monkeypatch):
    cold = probe.prog_type("tracepoint")
    path = store_file(tmp_path)
    real = path.read_text()
    calls = []
    original = lib.libbpf_probe_bpf_prog_type

    def counting(*args):
        calls.append(args)
        return original(*args)
    for forged in (real.replace("\nboot ", "\nboot 0", 1),
                   real.replace("\nlibbpf ", "\nlibbpf 0.", 1)):
        path.write_text(forged.replace("loaded", "forged"))
        fresh()
        monkeypatch.setattr(lib, "libbpf_probe_bpf_prog_type", counting)
        assert probe.prog_type("tracepoint") == cold
        assert "forged" not in probe.prog_type("tracepoint").reason
    assert len(calls) == 2


def test_a_symlinked_store_is_not_followed(fresh, tmp_path, monkeypatch):
    probe.prog_type("tracepoint")
    path = store_file(tmp_path)
    forged = tmp_path / "forged"
    forged.write_text(path.read_text().replace("tracepoint\t1", "tracepoint\t0"))
    path.unlink()
    path.symlink_to(forged)
    fresh()
    assert probe.prog_type("tracepoint")        # asked the kernel, not the symlink
    assert not path.is_symlink()                # and replaced the link, not its target
    assert "tracepoint\t0" in forged.read_text()


def test_answers_without_privileges_are_not_kept(fresh, tmp_path, monkeypatch):
    monkeypatch.setattr(probe, "has_bpf_privileges", lambda: False)
    assert not probe.prog_type("xdp")
    assert not store_file(tmp_path).exists() or \
        "prog_type xdp" not in store_file(tmp_path).read_text()


def test_store_off_and_cleared(fresh, tmp_path, monkeypatch):
    monkeypatch.setenv("LIBBPFPY_PROBE_CACHE", "0")
    assert probe.prog_type("tracepoint")
    assert not store_file(tmp_path).exists()
    monkeypatch.delenv("LIBBPFPY_PROBE_CACHE")
    fresh()
    assert probe.map_type("hash")
    assert "map_type hash\t1" in store_file(tmp_path).read_text()
    probe.clear_cache()
    assert not store_file(tmp_path).exists()
    assert os.path.isdir(tmp_path / "cache")
