"""libbpfpy.compile(): clang driver, content-hash cache, private cache directory."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

import libbpfpy
from conftest import need
from libbpfpy import BPFError, CompileError, Object
from libbpfpy._caps import has_bpf_privileges
from libbpfpy._compile import cache_dir, kernel_build_id, target_arch, vmlinux_header

SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "counter.h"

struct {
\t__uint(type, BPF_MAP_TYPE_ARRAY);
\t__uint(max_entries, 1);
\t__type(key, __u32);
\t__type(value, __u64);
} counts SEC(".maps");

SEC("syscall")
int count(void *ctx)
{
\t__u32 k = 0;
\t__u64 *v = bpf_map_lookup_elem(&counts, &k);
\tif (v)
\t\t*v += STEP;
\treturn STEP;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture
def clang_log(tmp_path):
    """A clang that records each run in a log file, then runs the real one."""
    need(shutil.which("clang") is not None, "clang not installed")
    log = tmp_path / "clang.log"
    wrapper = tmp_path / "counting-clang"
    wrapper.write_text(f"#!/bin/sh\necho run >> {log}\nexec {shutil.which('clang')} \"$@\"\n")
    wrapper.chmod(0o755)
    log.write_text("")
    return wrapper, log


@pytest.fixture
def project(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "prog.bpf.c").write_text(SOURCE)
    (src / "counter.h").write_text("#define STEP 3\n")
    return src


def runs(log: Path) -> int:
    return len(log.read_text().splitlines())


def test_cache_hits_skip_clang_and_changes_recompile(tmp_path, project, clang_log):
    wrapper, log = clang_log
    cache = tmp_path / "cache"
    kw = {"cache_path": cache, "clang": wrapper}
    first = libbpfpy.compile(project / "prog.bpf.c", **kw)
    assert runs(log) == 1 and first.is_file() and first.parent.parent == cache
    assert first.read_bytes()[:4] == b"\x7fELF"
    second = libbpfpy.compile(project / "prog.bpf.c", **kw)
    assert second == first and runs(log) == 1              # unchanged: no clang
    # a changed flag (a macro name no vmlinux.h uses: 6.12's has an enumerator UNUSED)
    libbpfpy.compile(project / "prog.bpf.c", cflags=["-DLIBBPFPY_TEST_ONLY_FLAG=1"], **kw)
    assert runs(log) == 2
    libbpfpy.compile(project / "prog.bpf.c", cflags=["-DLIBBPFPY_TEST_ONLY_FLAG=1"], **kw)
    assert runs(log) == 2
    # a changed source
    (project / "prog.bpf.c").write_text(SOURCE.replace("return STEP;", "return STEP + 1;"))
    third = libbpfpy.compile(project / "prog.bpf.c", **kw)
    assert runs(log) == 3 and third != first
    # a changed header the source includes (found through clang's -MD list)
    (project / "counter.h").write_text("#define STEP 5\n")
    libbpfpy.compile(project / "prog.bpf.c", **kw)
    assert runs(log) == 4
    # touching a header without changing it does not recompile
    os.utime(project / "counter.h", ns=(1, 1))
    libbpfpy.compile(project / "prog.bpf.c", **kw)
    assert runs(log) == 4
    # cache=False always compiles
    libbpfpy.compile(project / "prog.bpf.c", cache=False, **kw)
    assert runs(log) == 5
    leftovers = [p.name for p in (cache / "objects").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_compiled_object_has_the_source_semantics(tmp_path, project, clang_log):
    wrapper, _log = clang_log
    out = tmp_path / "out" / "prog.bpf.o"
    path = libbpfpy.compile(project / "prog.bpf.c", out, cache_path=tmp_path / "cache",
                            clang=wrapper)
    assert path == out and out.is_file()
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    with Object.open(out) as obj:
        assert list(obj.programs) == ["count"]
        assert obj.programs["count"].section == "syscall"
        assert obj.btf.type_name(obj.btf.map_types(obj.maps["counts"])[1]) == "__u64"
        if has_bpf_privileges():
            obj.load()
            assert obj.programs["count"].test_run().retval == 3
            assert obj.maps["counts"][0] == 3


def test_compile_errors_carry_clang_diagnostics(tmp_path, clang_log):
    wrapper, _log = clang_log
    bad = tmp_path / "bad.bpf.c"
    bad.write_text('#include "vmlinux.h"\nint f(void) { return undeclared_thing; }\n')
    cache = tmp_path / "cache"
    with pytest.raises(CompileError) as exc:
        libbpfpy.compile(bad, cache_path=cache, clang=wrapper)
    err = exc.value
    assert err.returncode != 0
    assert "bad.bpf.c:2:" in err.diagnostics and "undeclared_thing" in err.diagnostics
    assert "undeclared_thing" in str(err)
    assert [p for p in (cache / "objects").iterdir()] == []   # nothing left behind
    with pytest.raises(FileNotFoundError):
        libbpfpy.compile(tmp_path / "missing.bpf.c", cache_path=cache, clang=wrapper)
    with pytest.raises(CompileError, match="clang not found"):
        libbpfpy.compile(bad, cache_path=cache, clang="no-such-clang-binary")


def test_cache_directory_is_private_and_checked(tmp_path):
    d = cache_dir(tmp_path / "c")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700 and d.stat().st_uid == os.geteuid()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(BPFError, match="writable by group or others"):
        cache_dir(shared)
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(BPFError, match="symlink"):
        cache_dir(link)
    if os.geteuid() == 0:
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        os.chown(other, 65534, 65534)
        with pytest.raises(BPFError, match="owned by uid 65534"):
            cache_dir(other)


def test_default_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("LIBBPFPY_CACHE_DIR", raising=False)
    if os.geteuid() == 0:
        assert cache_dir() == Path("/var/cache/libbpfpy")
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        assert cache_dir() == tmp_path / "libbpfpy"
    monkeypatch.setenv("LIBBPFPY_CACHE_DIR", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"


def test_vmlinux_header_is_generated_once_per_kernel(tmp_path):
    h1 = vmlinux_header(tmp_path)
    mtime = h1.stat().st_mtime_ns
    text = h1.read_text()
    assert text.startswith("#ifndef __VMLINUX_H__") and "struct task_struct {" in text
    h2 = vmlinux_header(tmp_path)
    assert h2 == h1 and h2.stat().st_mtime_ns == mtime
    bid = kernel_build_id()
    if bid is not None:
        assert len(bid) in (40, 64) and int(bid, 16) >= 0
    assert target_arch("x86_64") == "x86" and target_arch("aarch64") == "arm64"


def test_the_arch_define_reaches_the_source(tmp_path, clang_log):
    wrapper, _log = clang_log
    src = tmp_path / "arch.bpf.c"
    arch = target_arch()
    src.write_text(f"#ifndef __TARGET_ARCH_{arch}\n#error no arch define\n#endif\n"
                   "int x;\n")
    # compiles only if -D__TARGET_ARCH_<arch> was passed (else #error)
    assert libbpfpy.compile(src, cache_path=tmp_path / "cache", clang=wrapper).is_file()
    src.write_text("#error deliberately\n")
    with pytest.raises(CompileError, match="deliberately"):
        libbpfpy.compile(src, cache_path=tmp_path / "cache", clang=wrapper)


def test_a_recent_kernels_unnamed_tagged_members_compile(tmp_path, clang_log):
    # Linux >= 6.19 embeds tagged structs as unnamed members (a Microsoft extension
    # the kernel builds with), and vmlinux.h dumped from its BTF says so: on 7.2,
    # struct filename's `name` is in an embedded `struct __filename_head;`.  Without
    # -fms-extensions clang drops such members' fields and BPF C reading
    # name->name (the examples' unlink tracers) fails to compile.
    wrapper, _log = clang_log
    header = tmp_path / "hdr" / "vmlinux.h"
    header.parent.mkdir()
    header.write_text("struct __filename_head {\n\tconst char *name;\n\tint refcnt;\n};\n"
                      "struct filename {\n\tstruct __filename_head;\n"
                      "\tconst char iname[168];\n};\n")
    src = tmp_path / "reads_name.bpf.c"
    src.write_text('#include "vmlinux.h"\n'
                   "const char *name_of(struct filename *f) { return f->name; }\n"
                   "int refs_of(struct filename *f) { return f->refcnt; }\n")
    out = libbpfpy.compile(src, cache_path=tmp_path / "cache", clang=wrapper,
                           vmlinux=header)
    assert out.is_file()

def test_a_cache_hit_needs_no_clang_and_a_changed_clang_recompiles(tmp_path, project,
                                                                   monkeypatch):
    """The production-box case: compiled where clang was, used where it is gone."""
    need(shutil.which("clang") is not None, "clang not installed")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "clang.log"
    log.write_text("")
    fake = bindir / "clang"
    fake.write_text(f"#!/bin/sh\necho run >> {log}\nexec {shutil.which('clang')} \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.delenv("LIBBPFPY_CLANG", raising=False)
    monkeypatch.setenv("PATH", str(bindir))
    kw = {"cache_path": tmp_path / "cache"}
    first = libbpfpy.compile(project / "prog.bpf.c", **kw)
    assert runs(log) == 1
    fake.unlink()                                      # clang is gone ...
    assert shutil.which("clang") is None
    assert libbpfpy.compile(project / "prog.bpf.c", **kw) == first   # ... a hit all the same
    with pytest.raises(CompileError, match="clang not found"):
        libbpfpy.compile(project / "prog.bpf.c", cflags=["-DOTHER"], **kw)  # a miss needs it
    # clang comes back changed (an upgrade): the object is rebuilt with it.
    fake.write_text(f"#!/bin/sh\n# upgraded\necho run >> {log}\n"
                    f"exec {shutil.which('clang', path=os.defpath)} \"$@\"\n")
    fake.chmod(0o755)
    assert libbpfpy.compile(project / "prog.bpf.c", **kw) == first and runs(log) == 2
    assert libbpfpy.compile(project / "prog.bpf.c", **kw) == first and runs(log) == 2


def test_cached_objects_are_named_after_their_source(tmp_path, project, clang_log):
    """libbpf names an object, and prefixes its global-data maps, after the file:
    the cache keeps the source's name so that these are not a hash."""
    wrapper, _log = clang_log
    path = libbpfpy.compile(project / "prog.bpf.c", cache_path=tmp_path / "cache",
                            clang=wrapper)
    assert path.name.startswith("prog.") and path.suffix == ".o"
    with Object.open(path) as obj:
        assert obj.name == "prog"
        assert "counts" in obj.maps


def test_out_is_returned_as_given(tmp_path, project, clang_log, monkeypatch):
    wrapper, _log = clang_log
    monkeypatch.chdir(tmp_path)
    path = libbpfpy.compile(project / "prog.bpf.c", "objs/prog.bpf.o",
                            cache_path=tmp_path / "cache", clang=wrapper)
    assert path == Path("objs/prog.bpf.o") and not path.is_absolute()
    assert (tmp_path / "objs" / "prog.bpf.o").read_bytes()[:4] == b"\x7fELF"
    with Object.open(path) as obj:
        assert obj.name == "prog"
