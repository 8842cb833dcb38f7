"""Files libbpfpy writes and the compile cache (issue 12, items 6-8): temporary files
are created O_EXCL|O_NOFOLLOW under a random name and renamed into place, so a
planted symlink is never written through; the cache is reached through directory fds
with every ancestor checked; a full disk leaves no truncated file, and a cached
header that breaks compiles is evicted."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

import libbpfpy
from conftest import ROOT, need
from libbpfpy import BPFError, CompileError
from libbpfpy._compile import cache_dir, vmlinux_header
from libbpfpy.cli import main as cli

PY = sys.executable


# -- 6: outputs --------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["btf", "dump", "{obj}", "-o", "{out}"],
    ["btf", "dump", "{obj}", "--format", "c", "-o", "{out}"],
    ["skel", "{obj}", "-o", "{out}"],
])
def test_outputs_never_write_through_a_planted_symlink(tmp_path, bpf_object_path, argv):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out.txt"
    # The old temporary name was predictable (<out>.<pid>.tmp): plant a symlink there.
    (tmp_path / f"out.txt.{os.getpid()}.tmp").symlink_to(victim)
    args = [a.format(obj=bpf_object_path("btf_zoo"), out=out) for a in argv]
    assert cli(args) == 0
    assert victim.read_text() == "precious\n"
    assert out.is_file() and not out.is_symlink() and out.stat().st_size > 100
    # a symlink at the output itself is replaced, not followed
    out.unlink()
    out.symlink_to(victim)
    assert cli(args) == 0
    assert victim.read_text() == "precious\n" and not out.is_symlink()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.txt.")]


def test_atomic_write_refuses_to_follow_and_cleans_up(tmp_path):
    from libbpfpy._files import atomic_write
    target = tmp_path / "f"
    atomic_write(target, b"one")
    assert target.read_bytes() == b"one"
    atomic_write(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(BPFError):
        atomic_write(tmp_path / "missing-dir" / "f", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


# -- 8: full disk -------------------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    """A 256 KiB tmpfs (root), too small for a vmlinux.h."""
    need(shutil.which("mount") is not None, "mount not installed")
    d = tmp_path / "small"
    d.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (probe: euid != 0)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(d)],
                   check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


def test_full_disk_gives_an_error_and_no_truncated_header(small_fs):
    proc = subprocess.run([PY, "-m", "libbpfpy", "vmlinux", "-o", str(small_fs / "vmlinux.h")],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert proc.returncode == 1, proc.stderr
    assert "No space left on device" in proc.stderr and "disk is full" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert list(small_fs.iterdir()) == []           # nothing half-written left
    with pytest.raises(BPFError, match="No space left"):
        vmlinux_header(small_fs / "cache")
    assert not list((small_fs / "cache").rglob("vmlinux.h"))


def test_truncated_cached_header_is_regenerated(tmp_path):
    header = vmlinux_header(tmp_path / "cache")
    full = header.read_bytes()
    header.write_bytes(full[:len(full) // 3])        # what a full disk used to leave
    again = vmlinux_header(tmp_path / "cache")
    assert again == header and again.read_bytes() == full


def test_cached_header_that_breaks_the_compile_is_evicted(tmp_path):
    need(shutil.which("clang") is not None, "clang not installed")
    cache = tmp_path / "cache"
    header = vmlinux_header(cache)
    good = header.read_bytes()
    # complete-looking, but broken
    header.write_bytes(good.replace(b"#define __VMLINUX_H__\n",
                                    b"#define __VMLINUX_H__\n#error damaged header\n", 1))
    src = tmp_path / "p.bpf.c"
    src.write_text('#include "vmlinux.h"\nint x;\n')
    with pytest.raises(CompileError, match="removed") as info:
        libbpfpy.compile(src, cache_path=cache)
    assert "damaged header" in info.value.diagnostics
    assert not header.exists()                       # evicted
    assert libbpfpy.compile(src, cache_path=cache).is_file()   # and regenerated
    assert header.read_bytes() == good


def test_damaged_cached_object_is_evicted_and_rebuilt(tmp_path):
    need(shutil.which("clang") is not None, "clang not installed")
    cache = tmp_path / "cache"
    src = tmp_path / "p.bpf.c"
    src.write_text('#include "vmlinux.h"\nint x;\n')
    obj = libbpfpy.compile(src, cache_path=cache)
    good = obj.read_bytes()
    obj.write_bytes(good[:100])
    assert libbpfpy.compile_bytes(src, cache_path=cache) == good
    assert obj.read_bytes() == good


# -- 7: the cache's directories ------------------------------------------------------------

def test_cache_under_a_directory_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)                 # anyone may rename what it holds
    with pytest.raises(BPFError, match="on its path is writable by group or others"):
        cache_dir(shared / "cache")
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)                # like /tmp: others cannot rename our entries
    assert cache_dir(sticky / "cache").is_dir()
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o755)
        os.chown(theirs, 65534, 65534)  # another user's directory on the path
        with pytest.raises(BPFError, match="owned by uid 65534"):
            cache_dir(theirs / "cache")


def test_compile_reads_its_object_through_the_directory_fd(tmp_path):
    """A directory swapped on the cache's path while clang runs changes nothing:
    clang writes into, and libbpfpy reads from, the directory it checked."""
    need(shutil.which("clang") is not None, "clang not installed")
    cache = tmp_path / "cache"
    cache_dir(cache)
    evil = tmp_path / "evil.o"
    evil.write_bytes(b"\x7fELF not yours")
    wrapper = tmp_path / "swapping-clang"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"mv {cache}/objects {cache}/objects.moved\n"
        f"mkdir {cache}/objects && for i in $(seq 0 9); do :; done\n"
        f"exec {shutil.which('clang')} \"$@\"\n")
    wrapper.chmod(0o755)
    src = tmp_path / "p.bpf.c"
    src.write_text('#include "vmlinux.h"\nint x = 7;\n')
    data = libbpfpy.compile_bytes(src, cache_path=cache, clang=wrapper)
    assert data[:4] == b"\x7fELF" and data != evil.read_bytes()
    # what clang wrote went to the checked directory (now moved), not the new one
    assert [p.suffix for p in (cache / "objects.moved").iterdir()].count(".o") == 1
    assert list((cache / "objects").iterdir()) == []
    with libbpfpy.Object.open(data) as obj:
        assert obj.globals["x"] == 7
