"""Shipping: versions, the tools' precompiled objects (no compiler at start), and the
small things a newcomer meets first (map names, text from char arrays, a second
attach)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

import libbpfpy
from libbpfpy import Object
from libbpfpy.tools import bpf_object, object_path

SRC = os.path.dirname(libbpfpy.__file__)
ROOT = Path(__file__).resolve().parents[1]


def test_version_everywhere_agrees():
    from importlib.metadata import version
    assert re.fullmatch(r"\d+\.\d+\.\d+", libbpfpy.__version__)
    assert version("libbpfpy") == libbpfpy.__version__
    from libbpfpy._raw import version as libbpf
    for cmd in ([sys.executable, "-m", "libbpfpy", "--version"],
                [sys.executable, "-m", "libbpfpy.tools.mmapsnoop", "--version"]):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        assert f"libbpfpy {libbpfpy.__version__} (libbpf {libbpf}: " in res.stdout
        assert "libbpf.so" in res.stdout
    res = subprocess.run([sys.executable, "-m", "libbpfpy"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 2 and res.stdout.startswith("usage: libbpfpy")


def test_the_tool_object_ships_in_the_package():
    path = bpf_object("mmapsnoop")
    assert path == os.path.join(SRC, "tools", "mmapsnoop.bpf.o")
    with open(path, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    with Object.open(path) as obj:
        assert {"mmap_enter_tp", "mmap_exit_tp"} <= set(obj.programs)


def test_a_missing_tool_object_is_one_clear_line(monkeypatch, tmp_path, capsys):
    from libbpfpy.tools import mmapsnoop as ms
    monkeypatch.setattr("libbpfpy.tools.object_path", lambda tool: str(tmp_path / "x.o"))
    with pytest.raises(FileNotFoundError, match="has no compiled mmapsnoop.bpf.o"):
        bpf_object("mmapsnoop")
    if not libbpfpy.probe.privileges():
        return      # run() stops at the privilege check first
    assert ms.run(ms.build_parser().parse_args(["-d", "0.1"])) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "mmapsnoop --build" in err


def _string_body(token: str) -> str:
    """A string token's text without its prefix and quotes (f-strings included)."""
    body = token.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return body[len(quote):len(body) - len(quote)]


@pytest.mark.root
def test_the_tool_starts_with_no_compiler_anywhere_on_its_path(tmp_path):
    """Run mmapsnoop with a PATH that holds no compiler and LIBBPFPY_CLANG pointing
    nowhere; then grep the code of every libbpfpy module it imported for clang:
    no name that refers to it, no string naming the program or its variable.
    (Text is not code: btf.py's vmlinux.h preamble holds a ``#pragma clang`` line
    for the C it writes, and errors.py describes CompileError.)"""
    runner = textwrap.dedent("""
        import json, sys
        from libbpfpy.tools import mmapsnoop
        rc = mmapsnoop.main(["-d", "0.3", "-p", "1"])
        mods = sorted(m.__file__ for n, m in list(sys.modules.items())
                      if n.startswith("libbpfpy") and getattr(m, "__file__", None))
        print(json.dumps({"rc": rc, "modules": mods}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "LIBBPFPY_CLANG"}
    env.update(PATH=str(tmp_path), LIBBPFPY_CLANG="/nonexistent/clang")
    res = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True,
                         timeout=60, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0 and "tracing mmap()" in res.stderr
    mentions = []
    program = re.compile(r"(?i)(libbpfpy_)?clang(-\d+)?")
    for path in report["modules"]:
        with open(path, "rb") as f:
            for tok in tokenize.tokenize(f.readline):
                if tok.type == tokenize.NAME and "clang" in tok.string.lower() or \
                        tok.type == tokenize.STRING and \
                        program.fullmatch(_string_body(tok.string).strip()):
                    mentions.append(f"{os.path.relpath(path, SRC)}:{tok.start[0]}")
    assert not mentions, f"the tool's start path refers to clang: {mentions}"
    assert os.path.join(SRC, "tools", "_build.py") not in report["modules"]
    assert os.path.join(SRC, "_compile.py") not in report["modules"]


@pytest.mark.root
def test_mmapsnoop_leaves_itself_out_and_goes_by_its_name():
    tool = [sys.executable, "-m", "libbpfpy.tools.mmapsnoop", "--json", "-d", "1.5"]
    for extra, expect_self in (([], False), (["--self"], True)):
        proc = subprocess.Popen(tool + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        own = [json.loads(line) for line in out.splitlines()
               if line.startswith("{") and json.loads(line)["pid"] == proc.pid]
        # Once attached, the tool maps its own ring buffer: its first own calls.
        if expect_self:
            assert own and {e["comm"] for e in own} == {"mmapsnoop"}
            assert any(e["file"] == "anon_inode:bpf-map" for e in own)
        else:
            assert own == []


def test_internal_maps_are_found_by_their_section(bpf_object_path):
    with Object.open(bpf_object_path("globals")) as obj:
        assert obj.maps[".rodata"] is obj.maps["globals.rodata"]
        assert obj.maps[".bss"] is obj.maps["globals.bss"]
        assert obj.maps[".rodata.custom"].name == ".rodata.custom"
        assert ".rodata" not in list(obj.maps)          # listed once, by its real name
        assert ".rodata" in obj.maps
        with pytest.raises(KeyError, match="has no map '.nothing'"):
            obj.maps[".nothing"]


def test_char_arrays_read_as_text_without_losing_bytes(bpf_object_path):
    with Object.open(bpf_object_path("hello")) as obj:
        info = obj.btf.ctypes_type("process_info")(pid=7, comm=b"py\xffthon")
    assert info.comm == b"py\xffthon"                   # the bytes API stays
    text = info.as_str("comm")
    assert text == "py\udcffthon" and os.fsencode(text) == b"py\xffthon"
    assert info.as_str("comm", errors="replace") == "py\ufffdthon"
    assert info.to_dict(text=True) == {"pid": 7, "comm": "py\udcffthon"}
    assert info.to_dict()["comm"] == b"py\xffthon"
    with pytest.raises(TypeError, match="pid is not a char array"):
        info.as_str("pid")


@pytest.mark.root
def test_a_second_attach_says_the_program_is_already_attached(bpf_object_path):
    from libbpfpy import BPFError
    with Object.open(bpf_object_path("hello")) as obj:
        obj.load()
        (link,) = obj.attach()
        prog = obj.programs["mmap_enter"]
        for again in (obj.attach, lambda: prog.attach_tracepoint("syscalls",
                                                                 "sys_enter_mmap")):
            with pytest.raises(BPFError) as info:
                again()
            assert info.value.errno == 17
            assert "program 'mmap_enter' is already attached to" in str(info.value)
            assert "close the earlier link first" in str(info.value)
        link.close()
        prog.attach_tracepoint("syscalls", "sys_enter_mmap").close()   # free again


def test_object_path_is_beside_the_source():
    assert object_path("mmapsnoop").endswith("tools/mmapsnoop.bpf.o")


def _readme_blocks() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text()
    using = text[text.index("## Using it"):]
    c = re.search(r"```c\n(.*?)```", using, re.S).group(1)
    py = re.search(r"```python\n(.*?)```", using, re.S).group(1)
    return c, py


@pytest.mark.root
def test_the_readme_snippet_runs_verbatim(tmp_path):
    """README "Using it": its C as prog.bpf.c, its Python as is, in an empty dir."""
    from conftest import need
    need(subprocess.run(["which", "clang"], capture_output=True).returncode == 0,
         "clang not installed")
    c, py = _readme_blocks()
    (tmp_path / "prog.bpf.c").write_text(c)
    (tmp_path / "snippet.py").write_text(py)
    import selectors
    import time

    from children import CueChild
    proc = subprocess.Popen([sys.executable, "snippet.py"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))  # a line at a time
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        # mmap() calls may be rare on a quiet machine: a child makes some until the
        # snippet (compiling, then attaching) has reported three.
        with CueChild() as mapper, selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 120
            while len(lines) < 3 and time.monotonic() < deadline:
                mapper.do("mmap", 5)
                if sel.select(timeout=0.5):
                    line = proc.stdout.readline()
                    assert line, proc.stderr.read() if proc.stderr else ""
                    lines.append(line)
        assert len(lines) == 3, lines
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    for line in lines:          # "pid comm": a number and a decoded name
        pid, _, comm = line.rstrip("\n").partition(" ")
        assert pid.isdigit() and int(pid) != proc.pid and comm and not comm.startswith("b'")
    assert (tmp_path / "prog.bpf.o").read_bytes()[:4] == b"\x7fELF"
    with Object.open(tmp_path / "prog.bpf.o") as obj:
        assert sorted(obj.maps) == ["events", "prog.bss", "prog.rodata"]
        assert obj.maps[".rodata"].name == "prog.rodata"
