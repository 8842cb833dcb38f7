"""The build commands: `libbpfpy btf dump`, `compile`, `skel`, `vmlinux`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import need
from libbpfpy import Object
from libbpfpy.cli import main
from libbpfpy.skel import generate


def bpftool(*args: str) -> str:
    need(shutil.which("bpftool") is not None, "bpftool not installed")
    return subprocess.run(["bpftool", *args], check=True, capture_output=True,
                          text=True).stdout


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_raw_dump_of_objects_is_bpftools(capsys, bpf_object_path):
    for name in ("btf_zoo", "globals", "hello"):
        path = bpf_object_path(name)
        rc, out, _ = run(capsys, "btf", "dump", path)
        assert rc == 0
        assert out == bpftool("btf", "dump", "file", path)


@pytest.mark.slow
def test_raw_and_json_dumps_of_vmlinux_are_bpftools(capsys):
    rc, out, _ = run(capsys, "btf", "dump", "--vmlinux")
    assert rc == 0 and out == bpftool("btf", "dump", "file", "/sys/kernel/btf/vmlinux")
    rc, out, _ = run(capsys, "btf", "dump", "--vmlinux", "--format", "json")
    assert rc == 0
    ours = json.loads(out)
    theirs = json.loads(bpftool("-j", "btf", "dump", "file", "/sys/kernel/btf/vmlinux"))
    # bpftool 7.1 prints unsigned 32-bit enum values above 2^31 sign-extended to 64 bits
    # in JSON (its text output has them right, as we do in both)
    for t in theirs["types"]:
        if t["kind"] == "ENUM" and t["encoding"] == "UNSIGNED":
            for v in t["values"]:
                v["val"] &= 0xFFFFFFFF
    assert ours == theirs


def test_dump_of_chosen_types(capsys, bpf_object_path, tmp_path):
    path = bpf_object_path("btf_zoo")
    rc, out, _ = run(capsys, "btf", "dump", path, "--type", "struct zoo_packed",
                     "--type", "zoo_color")
    assert rc == 0
    zoo_packed_id = next(ln for ln in out.splitlines() if "'zoo_packed'" in ln)
    assert zoo_packed_id.startswith("[") and "STRUCT 'zoo_packed' size=7 vlen=3" in out
    assert "ENUM 'zoo_color' encoding=UNSIGNED size=4 vlen=3" in out
    assert len([ln for ln in out.splitlines() if ln.startswith("[")]) == 2
    rc, out, _ = run(capsys, "btf", "dump", path, "--type", "zoo", "--format", "c")
    assert rc == 0 and "struct zoo {" in out and "struct zoo_inner {" in out
    # the declarations compile (clang, BPF target) and have BTF's size
    need(shutil.which("clang") is not None, "clang not installed")
    src = tmp_path / "use.c"
    src.write_text(out + "\n_Static_assert(sizeof(struct zoo) == 272, \"size\");\n"
                   "struct zoo z;\n")
    subprocess.run(["clang", "-target", "bpf", "-c", str(src), "-o", str(tmp_path / "u.o")],
                   check=True)
    out_file = tmp_path / "zoo.json"
    rc, _, _ = run(capsys, "btf", "dump", path, "--type", "zoo", "--format", "json",
                   "-o", str(out_file))
    assert rc == 0
    (t,) = json.loads(out_file.read_text())["types"]
    assert t["name"] == "zoo" and t["size"] == 272 and len(t["members"]) == 33


def test_dump_errors(capsys, tmp_path, bpf_object_path):
    rc, _, err = run(capsys, "btf", "dump", bpf_object_path("btf_zoo"), "--type", "nope")
    assert rc == 1 and "has no type 'nope'" in err
    rc, _, err = run(capsys, "btf", "dump", str(tmp_path / "missing.o"))
    assert rc == 1 and "missing.o" in err
    with pytest.raises(SystemExit):
        main(["btf", "dump", "--vmlinux", "--id", "1"])
    capsys.readouterr()


@pytest.mark.root
def test_dump_by_kernel_id(capsys, bpf_object_path):
    with Object.open(bpf_object_path("btf_zoo")) as obj:
        obj.load()
        btf_id = obj.maps["zoo_map"].info().btf_id
        rc, out, _ = run(capsys, "btf", "dump", "--id", str(btf_id))
        assert rc == 0
        assert out == bpftool("btf", "dump", "id", str(btf_id))


def test_compile_and_skel_commands(capsys, tmp_path, bpf_object_path, monkeypatch):
    need(shutil.which("clang") is not None, "clang not installed")
    monkeypatch.setenv("LIBBPFPY_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "tiny.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                   'const volatile int knob = 3;\n'
                   'SEC("syscall") int run(void *ctx) { return knob; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    out = tmp_path / "tiny.bpf.o"
    rc, stdout, _ = run(capsys, "compile", str(src), "-o", str(out), "--cflag=-DX=1")
    assert rc == 0 and stdout.strip() == str(out)
    with Object.open(out) as obj:
        assert obj.globals["knob"] == 3
    rc, stdout, _ = run(capsys, "compile", str(src))
    assert rc == 0 and stdout.strip().startswith(str(tmp_path / "cache" / "objects"))
    bad = tmp_path / "bad.bpf.c"
    bad.write_text("int broken(\n")
    rc, _, err = run(capsys, "compile", str(bad))
    assert rc == 1 and "bad.bpf.c:" in err and "error" in err
    # skel from an object and from a source
    module = tmp_path / "tiny_skel.py"
    rc, _, _ = run(capsys, "skel", str(out), "-o", str(module))
    assert rc == 0 and module.read_text() == generate(out)
    rc, stdout, _ = run(capsys, "skel", str(src), "--name", "tiny")
    assert rc == 0 and "class TinySkel(Skeleton):" in stdout
    assert "knob: Var[int] = Var(\"knob\")" in stdout
    assert stdout.startswith("# Generated by `libbpfpy skel` from tiny.bpf.c: DO NOT EDIT.")


def test_vmlinux_command_writes_header(tmp_path):
    out = tmp_path / "vmlinux.h"
    subprocess.run([sys.executable, "-m", "libbpfpy", "vmlinux", "-o", str(out)], check=True)
    text = out.read_text()
    assert text.startswith("#ifndef __VMLINUX_H__") and "struct task_struct {" in text
    piped = subprocess.run([sys.executable, "-m", "libbpfpy", "vmlinux"], check=True,
                           capture_output=True).stdout
    assert piped == out.read_bytes()
    assert not [p for p in os.listdir(tmp_path) if p != "vmlinux.h"]
