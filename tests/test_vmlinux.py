"""vmlinux.h from `libbpfpy vmlinux` works wherever bpftool's does: every BPF source of
the project and of the tests compiles against both, and the objects load alike."""
from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, _multiarch_include, need, need_privileges
from libbpfpy import BPFError, Object
from libbpfpy._compile import INCLUDE_DIR, VMLINUX_CFLAGS, target_arch

SOURCES = sorted([*ROOT.glob("tests/bpf/*.bpf.c"), *ROOT.glob("examples/*.bpf.c"),
                  *ROOT.glob("src/libbpfpy/tools/*.bpf.c")])
# Objects that must load as they are (the others may be refused by this kernel, e.g.
# kprobes or fentry, need set-up first, or are refused on purpose by the verifier:
# then both headers must give the same refusal).
MUST_LOAD = {"hello", "globals", "btf_zoo"}


@pytest.fixture(scope="module")
def headers(tmp_path_factory):
    need(shutil.which("clang") is not None, "clang not installed")
    need(shutil.which("bpftool") is not None, "bpftool not installed")
    d = tmp_path_factory.mktemp("vmlinux")
    ours, theirs = d / "ours", d / "bpftool"
    ours.mkdir()
    theirs.mkdir()
    subprocess.run([sys.executable, "-m", "libbpfpy", "vmlinux", "-o",
                    str(ours / "vmlinux.h")], check=True)
    with open(theirs / "vmlinux.h", "wb") as f:
        subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux",
                        "format", "c"], check=True, stdout=f)
    return d, ours, theirs


def _compile(src: Path, include: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["clang", "-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{target_arch()}",
         "-Wall", "-Wno-unused-function", *VMLINUX_CFLAGS, f"-I{include}", f"-I{src.parent}",
         f"-I{INCLUDE_DIR}",
         *_multiarch_include(), "-c", str(src), "-o", str(out)],
        capture_output=True, text=True)


def _name(src: Path) -> str:
    return src.name.removesuffix(".c").removesuffix(".bpf")


def test_header_is_a_complete_vmlinux_h(headers):
    _d, ours, theirs = headers
    text = (ours / "vmlinux.h").read_text()
    assert text.startswith("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n")
    assert "#pragma clang attribute push (__attribute__((preserve_access_index))" in text
    assert text.rstrip().endswith("#endif /* __VMLINUX_H__ */")
    # the same declarations as bpftool's, type for type
    ours_decls = {ln for ln in text.splitlines() if ln.startswith(("struct ", "union ",
                                                                     "enum ", "typedef "))}
    theirs_text = (theirs / "vmlinux.h").read_text()
    theirs_decls = {ln for ln in theirs_text.splitlines()
                    if ln.startswith(("struct ", "union ", "enum ", "typedef "))}
    differ = ours_decls ^ theirs_decls
    # libbpf versions spell empty parameter lists "()" or "(void)"; nothing else differs
    assert all(ln.endswith(("();", "(void);")) for ln in differ), sorted(differ)[:5]


@pytest.mark.slow
def test_every_source_compiles_with_both_headers_and_loads_alike(headers):
    d, ours, theirs = headers
    assert len(SOURCES) >= 5
    jobs = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for src in SOURCES:
            for tag, inc in (("ours", ours), ("bpftool", theirs)):
                out = d / f"{_name(src)}.{tag}.o"
                jobs.append((src, tag, out, pool.submit(_compile, src, inc, out)))
    results: dict[str, dict[str, tuple[subprocess.CompletedProcess[str], Path]]] = {}
    for src, tag, out, fut in jobs:
        results.setdefault(_name(src), {})[tag] = (fut.result(), out)
    for name, r in results.items():
        ours_rc, theirs_rc = r["ours"][0].returncode, r["bpftool"][0].returncode
        assert ours_rc == theirs_rc == 0, (name, r["ours"][0].stderr, r["bpftool"][0].stderr)
    need_privileges()
    loaded = set()
    for name, r in results.items():
        outcomes = []
        for tag in ("ours", "bpftool"):
            try:  # (an object made to be linked first does not even open)
                with Object.open(r[tag][1]) as obj:
                    obj.load()
                outcomes.append("loaded")
            except BPFError as exc:
                outcomes.append(f"{type(exc).__name__} errno={exc.errno}")
        assert outcomes[0] == outcomes[1], (name, outcomes)
        if outcomes[0] == "loaded":
            loaded.add(name)
    assert MUST_LOAD & set(results) <= loaded
