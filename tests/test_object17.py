"""Object, program and map features of libbpf >= 1.5: prepare() between open and load,
func/line info, program streams, exclusive maps, struct_ops maps attached, switched
and auto-attached -- for real where libbpf and the kernel have them (probes decide),
and with an older libbpf each one names the release that has it."""
from __future__ import annotations

import ctypes
import errno
import socket
from pathlib import Path

import pytest

from conftest import skip_unless
from libbpfpy import BPFError, LinkType, MapType, NotSupportedError, Object, probe
from libbpfpy import _raw as raw
from libbpfpy._lifetime import fd_kind

pytestmark = pytest.mark.root

SRC = Path(__file__).resolve().parent / "bpf"


def refused_by_old_libbpf(function: str, call) -> bool:
    """With a libbpf lacking ``function``: ``call()`` raises the NotSupportedError
    naming the release that has it; return True (nothing more to test)."""
    if raw.is_available(function):
        return False
    with pytest.raises(NotSupportedError, match=rf"{function}\(\) needs libbpf >= "
                       rf"{raw._since(function)}, this is {raw.version} "):
        call()
    return True


class Args(ctypes.Structure):
    _fields_ = [("count", ctypes.c_int), ("written", ctypes.c_int),
                ("last_square", ctypes.c_int)]


# -- prepare ------------------------------------------------------------------------------

def test_prepare_creates_maps_before_programs_load(bpf_object_path):
    with Object.open(bpf_object_path("streams")) as obj:
        if refused_by_old_libbpf("bpf_object__prepare", obj.prepare):
            return
        prog = obj.programs["write_lines"]
        assert obj.prepare() is obj
        assert obj.prepared and not obj.loaded and not prog.loaded
        data = next(m for m in obj.maps.values() if m.name.endswith(".data"))
        assert fd_kind(data.fd) == "map"                 # the maps exist in the kernel
        obj.globals["multiplier"] = 3                     # written into the live map
        assert data.lookup(0).multiplier == 3              # (read by the syscall)
        with pytest.raises(BPFError, match="before the object is loaded") as info:
            prog.autoload = False
        assert info.value.errno == errno.EBUSY
        with pytest.raises(BPFError, match="already prepared"):
            obj.prepare()
        obj.load()
        args = Args(3, 0, 0)
        prog.test_run(ctx=args)
        assert args.last_square == 2 * 2 * 3              # the program saw multiplier 3
        assert "loaded" in repr(obj)


# -- func_info / line_info ------------------------------------------------------------------

def test_func_and_line_info_describe_the_source(bpf_object_path):
    with Object.open(bpf_object_path("streams")) as obj:
        prog = obj.programs["write_lines"]
        if refused_by_old_libbpf("bpf_program__func_info", prog.func_info):
            return
        obj.prepare()
        funcs = prog.func_info()
        assert [f.name for f in funcs] == ["write_lines", "square"]
        assert funcs[0].insn_off == 0 and funcs[1].insn_off > 0
        assert all(obj.btf[f.type_id].kind.name == "FUNC" for f in funcs)
        lines = prog.line_info()
        assert len(lines) > 5
        source = (SRC / "streams.bpf.c").read_text().splitlines()
        for li in lines:
            assert li.file.endswith("streams.bpf.c")
            if li.line_num == 0:        # code the compiler made, of no source line
                assert li.line == ""
                continue
            # each record's text is the source line it names (clang's own record)
            assert source[li.line_num - 1].strip() == li.line.strip(), li
        assert [li.insn_off for li in lines] == sorted(li.insn_off for li in lines)
        assert any("x * x * multiplier" in li.line for li in lines)
        obj.load()
        assert [f.name for f in prog.func_info()] == ["write_lines", "square"]


# -- streams -------------------------------------------------------------------------------

def test_program_streams_carry_what_the_program_printed(bpf_object_path):
    with Object.open(bpf_object_path("streams")) as obj:
        prog = obj.programs["write_lines"]
        if refused_by_old_libbpf("bpf_prog_stream_read", prog.stream_read):
            return
        skip_unless(probe.streams())
        obj.load()
        args = Args(3, 0, 0)
        prog.test_run(ctx=args)
        assert args.written == 0
        assert list(prog.streams("stdout")) == [
            ("stdout", f"line {i} of 3 squared {i * i}") for i in range(3)]
        assert prog.stream_read("stdout") == b""          # read means gone
        prog.test_run(ctx=Args(1, 0, 0))
        assert list(prog.streams()) == [("stdout", "line 0 of 1 squared 0"),
                                        ("stderr", "error stream says 42"),
                                        ("stderr", "error stream says 42")]
        with pytest.raises(ValueError, match="no BPF stream"):
            prog.stream_read("stdin")


# -- exclusive maps ------------------------------------------------------------------------

def test_exclusive_map_admits_only_its_program(bpf_object_path):
    with Object.open(bpf_object_path("excl")) as obj:
        shared, owner = obj.maps["shared"], obj.programs["owner"]
        if refused_by_old_libbpf("bpf_map__set_exclusive_program",
                                 lambda: setattr(shared, "exclusive_program", owner)):
            return
        skip_unless(probe.exclusive_maps())
        assert shared.exclusive_program is None
        shared.exclusive_program = owner
        assert shared.exclusive_program is owner
        with pytest.raises(BPFError, match="intruder") as info:
            obj.load()                                  # the other user is refused
        assert "excl_prog_hash" in info.value.log
    with Object.open(bpf_object_path("excl")) as obj:
        obj.maps["shared"].exclusive_program = obj.programs["owner"]
        obj.programs["intruder"].autoload = False
        obj.load()
        assert obj.programs["owner"].test_run(b"\0" * 64, repeat=4).retval == 2
        assert obj.maps["shared"][0] == 4                 # user space still reads it
        with pytest.raises(BPFError, match="before the object is loaded"):
            obj.maps["shared"].exclusive_program = obj.programs["owner"]


# -- struct_ops ----------------------------------------------------------------------------

TCP_CONGESTION = 13


def _connect_with(cc: bytes) -> None:
    """One TCP connection (in the current netns) whose client uses congestion control
    ``cc``: the algorithm's init runs when it is established."""
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.socket() as client:
        client.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cc)
        client.connect(server.getsockname())
        conn, _ = server.accept()
        conn.close()


def test_struct_ops_maps_attach_switch_and_autoattach(bpf_object_path, netns_factory):
    with Object.open(bpf_object_path("struct_ops_link")) as obj:
        if not raw.is_available("bpf_map__autoattach"):
            # libbpf 1.1 knows no .struct_ops.link maps; autoattach is 1.5's
            assert refused_by_old_libbpf(
                "bpf_map__autoattach", lambda: next(iter(obj.maps.values())).autoattach)
            return
        first, second = obj.maps["first"], obj.maps["second"]
        assert first.type == MapType.STRUCT_OPS and first.autoattach
        second.autoattach = False           # both are "lbpy_cc_link": one registers at a time
        obj.load()
        links = obj.attach()                # programs have no targets; the map has
        assert len(links) == 1
        link = links[0]
        info = link.info()
        assert info.type == LinkType.STRUCT_OPS and info.target["map_id"] == first.info().id
        ns = netns_factory()
        with ns.inside():
            _connect_with(b"lbpy_cc_link")
            assert (obj.globals["inits_first"], obj.globals["inits_second"]) == (1, 0)
            link.update_map(second)         # the other implementation takes over
            _connect_with(b"lbpy_cc_link")
            assert (obj.globals["inits_first"], obj.globals["inits_second"]) == (1, 1)
            link.destroy()
            with pytest.raises(OSError) as info_:
                _connect_with(b"lbpy_cc_link")
            assert info_.value.errno == errno.ENOENT  # unregistered
        with pytest.raises(BPFError, match="not struct_ops"):
            obj.maps["struct_o.bss"].attach_struct_ops()


def test_assoc_struct_ops_associates_or_says_why_not(bpf_object_path):
    with Object.open(bpf_object_path("struct_ops_link")) as obj:
        prog = obj.programs["plain"]
        if not raw.is_available("bpf_map__autoattach"):   # no struct_ops maps in 1.1
            assert refused_by_old_libbpf("bpf_program__assoc_struct_ops",
                                         lambda: prog.assoc_struct_ops(None))
            return
        obj.load()
        first = obj.maps["first"]
        if refused_by_old_libbpf("bpf_program__assoc_struct_ops",
                                 lambda: prog.assoc_struct_ops(first)):
            return
        feature = probe.struct_ops_association()
        if not feature:
            # the kernel lacks it: the error quotes the probe
            with pytest.raises(NotSupportedError) as info:
                prog.assoc_struct_ops(first)
            assert feature.reason in str(info.value)
            return
        prog.assoc_struct_ops(first)
        assert prog.test_run(b"\0" * 64).retval == 2      # still runs, associated
