"""mmapsnoop's parts that need no tracing: decoding, names, strategy choice, setup."""
from __future__ import annotations

import ctypes
import struct

import pytest

from libbpfpy import Object
from libbpfpy.probe import Feature
from libbpfpy.tools import bpf_object, source_path
from libbpfpy.tools import mmapsnoop as ms


def _record(*, ret: int = 0x7F0000001000, path_parts: list[bytes] | None = None,
            path_flags: int = 0, comm: bytes = b"demo", fd: int = 3,
            flags: int = 0x02, prot: int = 0x5) -> bytes:
    blob = b"".join(p + b"\0" for p in path_parts or [])
    head = ms.HEADER.pack(123456789, ret, 0, 8192, 4096, 10, 11, 1000, prot, flags, fd,
                          len(blob), path_flags, 0, comm.ljust(16, b"\0"))
    return head + blob


def test_decode_builds_the_path_from_the_innermost_component():
    ev = ms.decode(_record(path_parts=[b"libc.so.6", b"lib", b"usr"],
                           path_flags=ms.PATH_FILE))
    assert ev == ms.Event(123456789, 10, 11, 1000, "demo", 0x7F0000001000, 0, 8192, 5, 2,
                          3, 4096, "/usr/lib/libc.so.6")
    assert ev.addr == 0x7F0000001000 and ev.error is None and not ev.failed


def test_decode_marks_truncated_deleted_and_pseudo_files():
    assert ms.decode(_record(path_parts=[b"f", b"deep"], path_flags=ms.PATH_FILE |
                             ms.PATH_TRUNCATED)).file == ".../deep/f"
    assert ms.decode(_record(path_parts=[b"gone"], path_flags=ms.PATH_FILE |
                             ms.PATH_DELETED)).file == "/gone (deleted)"
    assert ms.decode(_record(path_parts=[b"[bpf-map]"], path_flags=ms.PATH_FILE |
                             ms.PATH_PSEUDO | ms.PATH_ANON_INODE)
                     ).file == "anon_inode:[bpf-map]"
    assert ms.decode(_record(path_parts=[b"memfd:x"], path_flags=ms.PATH_FILE |
                             ms.PATH_PSEUDO)).file == "memfd:x"
    assert ms.decode(_record(path_parts=[], path_flags=0)).file is None
    assert ms.decode(_record(path_parts=[], path_flags=ms.PATH_FILE)).file == "/"


def test_decode_reports_errors_by_name():
    ev = ms.decode(_record(ret=-9))
    assert ev.failed and ev.addr is None and ev.error == "EBADF"
    assert ms.decode(_record(ret=-4095)).failed
    # A high user-space address is not an error.
    assert not ms.decode(_record(ret=-4096)).failed


def test_prot_and_flag_names():
    assert ms.prot_letters(0) == "---" and ms.prot_names(0) == []
    assert ms.prot_letters(7) == "rwx" and ms.prot_letters(5) == "r-x"
    assert ms.prot_names(5) == ["READ", "EXEC"]
    assert ms.prot_names(0x01000003) == ["READ", "WRITE", "GROWSDOWN"]
    assert ms.flag_names(0x22) == ["PRIVATE", "ANONYMOUS"]
    assert ms.flag_names(0x32) == ["PRIVATE", "FIXED", "ANONYMOUS"]
    assert ms.flag_names(0x812) == ["PRIVATE", "FIXED", "DENYWRITE"]
    assert ms.flag_names(0x03) == ["SHARED_VALIDATE"]
    assert ms.flag_names(0x100001) == ["SHARED", "FIXED_NOREPLACE"]
    assert ms.flag_names(0x40022 | (21 << 26)) == ["PRIVATE", "ANONYMOUS", "HUGETLB",
                                                   "HUGE_2MB"]
    assert ms.flag_names(0x40022 | (30 << 26)) == ["PRIVATE", "ANONYMOUS", "HUGETLB",
                                                   "HUGE_1GB"]
    assert ms.flag_names(0x4000022) == ["PRIVATE", "ANONYMOUS", "UNINITIALIZED"]
    assert ms.flag_names(0x02 | 0x200) == ["PRIVATE", "0x200"]


def _features(fentry: bool, kprobe: bool, tracepoint: bool) -> dict[str, Feature]:
    return {"fentry": Feature("fentry", fentry, "fentry said so"),
            "kprobe": Feature("kprobe", kprobe, "kprobe said so"),
            "tracepoint": Feature("tracepoint", tracepoint, "tracepoint said so")}


@pytest.mark.parametrize("answers, expected", [
    ((True, True, True), "fentry"),
    ((True, False, False), "fentry"),
    ((False, True, True), "kprobe"),
    ((False, True, False), "kprobe"),
    ((False, False, True), "tracepoint"),
])
def test_strategy_follows_libbpf_tools_order(answers, expected):
    choice = ms.choose_attach(None, _features(*answers))
    assert choice.strategy == expected
    assert choice.notes == [f"{n}: {'yes' if a else 'no'} ({n} said so)"
                            for n, a in zip(ms.STRATEGIES, answers, strict=True)]


def test_no_strategy_is_a_clear_error_and_request_overrides():
    with pytest.raises(LookupError, match="no way to trace mmap.*kprobe: no"):
        ms.choose_attach(None, _features(False, False, False))
    choice = ms.choose_attach("kprobe", _features(True, False, True))
    assert choice.strategy == "kprobe" and choice.notes[-1] == \
        "kprobe requested with --attach"
    with pytest.raises(ValueError):
        ms.choose_attach("uprobe", {})


def test_syscall_function_is_in_this_kernels_btf():
    from libbpfpy import BTF
    with BTF.vmlinux() as btf:
        assert btf.find(ms.syscall_function()) is not None


@pytest.fixture(scope="module")
def tool_object() -> str:
    return bpf_object("mmapsnoop")


def test_source_and_object_ship_side_by_side_in_the_package(tool_object):
    assert source_path("mmapsnoop").endswith("libbpfpy/tools/mmapsnoop.bpf.c")
    assert tool_object == source_path("mmapsnoop")[:-len(".c")] + ".o"


def test_python_header_matches_the_btf_of_struct_event(tool_object):
    with Object.open(tool_object) as obj:
        event = obj.btf.ctypes_type("event")
    names = ["ts", "ret", "addr", "len", "off", "pid", "tid", "uid", "prot", "flags", "fd",
             "path_len", "path_flags", "reserved", "comm"]
    codes = ["Q", "q", "Q", "Q", "Q", "I", "I", "I", "I", "I", "i", "H", "H", "I", "16s"]
    assert "<" + "".join(codes) == ms.HEADER.format
    assert [f[0] for f in event._fields_][:len(names)] == names
    off = 0
    for name, code in zip(names, codes, strict=True):
        assert getattr(event, name).offset == off, name
        assert getattr(event, name).size == struct.calcsize("<" + code), name
        off += struct.calcsize("<" + code)
    assert event.path.offset == ms.HEADER.size
    assert ctypes.sizeof(event) >= ms.HEADER.size + 4096


@pytest.mark.parametrize("strategy", ms.STRATEGIES)
def test_prepare_keeps_only_the_chosen_programs_and_sets_filters(tool_object, strategy):
    args = ms.build_parser().parse_args(["-p", "42", "-t", "43", "-u", "7", "-n", "py",
                                         "-x", "--file", "--ringbuf-size", "64K"])
    with Object.open(tool_object) as obj:
        assert set(obj.programs) == {n for pair in ms.PROGRAMS.values() for n in pair}
        ms.prepare(obj, args, strategy)
        loaded = {n for n, p in obj.programs.items() if p.autoload}
        assert loaded == set(ms.PROGRAMS[strategy])
        g = obj.globals
        assert (g["targ_pid"], g["targ_tid"], g["targ_uid"]) == (42, 43, 7)
        assert g["targ_comm"].rstrip(b"\0") == b"py" and g["targ_comm_len"] == 2
        assert g["targ_failed"] and g["targ_kind"] == 2
        assert obj.maps["events"].max_entries == 64 << 10
        sections = {obj.programs[n].section for n in ms.PROGRAMS[strategy]}
    assert sections == {"fentry": {"fentry", "fexit"},
                        "kprobe": {"ksyscall/mmap", "kretsyscall/mmap"},
                        "tracepoint": {"tracepoint/syscalls/sys_enter_mmap",
                                       "tracepoint/syscalls/sys_exit_mmap"}}[strategy]


def test_default_filters_select_everything(tool_object):
    args = ms.build_parser().parse_args([])
    with Object.open(tool_object) as obj:
        ms.prepare(obj, args, "tracepoint")
        g = obj.globals
        assert (g["targ_pid"], g["targ_tid"], g["targ_uid"], g["targ_comm_len"],
                g["targ_failed"], g["targ_kind"]) == (0, 0, 0xFFFFFFFF, 0, False, 0)
        assert obj.maps["events"].max_entries == 1 << 20


@pytest.mark.root
@pytest.mark.parametrize("strategy", ms.STRATEGIES)
def test_each_strategys_programs_pass_the_verifier_where_the_kernel_has_them(
        tool_object, strategy):
    from libbpfpy import NotSupportedError, probe
    feature = {"fentry": probe.fentry(), "kprobe": probe.prog_type("kprobe"),
               "tracepoint": probe.prog_type("tracepoint")}[strategy]
    args = ms.build_parser().parse_args(["-n", "python", "-x"])
    with Object.open(tool_object) as obj:
        ms.prepare(obj, args, strategy)
        if feature:
            obj.load()
            assert all(obj.programs[n].loaded for n in ms.PROGRAMS[strategy])
            others = set(obj.programs) - set(ms.PROGRAMS[strategy])
            assert not any(obj.programs[n].loaded for n in others)
        else:
            with pytest.raises(NotSupportedError) as info:
                obj.load()
            assert feature.reason in str(info.value)
