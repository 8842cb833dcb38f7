"""The raw layer: every exported libbpf function bound, struct layouts as the C
compiler lays them out, newer symbols refused by version, libbpf's log routed to
logging, kernel enums named by libbpf."""
from __future__ import annotations

import ctypes
import logging
import os
import re
import subprocess

import pytest

from conftest import libbpf_refused_object, need, need_privileges
from libbpfpy import NotSupportedError, Object, libbpf_version
from libbpfpy import _raw as raw
from libbpfpy._raw import _elf
from libbpfpy.enums import AttachType, LinkType, MapType, ProgType, parse_enum


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def loaded_libbpf_file() -> str:
    """The file the process actually loaded libbpf from (dladdr on one of its
    functions), whatever name it was found under."""
    libc = ctypes.CDLL(None)
    dladdr = libc.dladdr
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    info = _DlInfo()
    addr = ctypes.cast(raw.lib.libbpf_major_version, ctypes.c_void_p)
    assert dladdr(addr, ctypes.byref(info))
    return os.path.realpath(info.dli_fname.decode())


def test_every_exported_function_is_bound():
    path = loaded_libbpf_file()
    exported = _elf.exported_functions(path)
    assert exported, f"no functions read from {path}"
    unbound = []
    for name in sorted(exported):
        try:
            fn = getattr(raw.lib, name)
        except (AttributeError, NotSupportedError) as exc:
            unbound.append(f"{name}: {exc}")
            continue
        assert fn.restype is not None or fn.argtypes is not None or name in (
            "libbpf_set_strict_mode",), name
    bound = len(exported) - len(unbound)
    print(f"{bound} of {len(exported)} libbpf {libbpf_version()} functions bound")
    assert not unbound, f"{len(unbound)} exported functions not bound: {unbound}"
    if raw.version == "1.1":
        assert len(exported) == 304


def test_every_function_has_argtypes_and_version_node():
    exported = _elf.exported_functions(loaded_libbpf_file())
    for name, node in exported.items():
        fn = getattr(raw.lib, name)
        assert isinstance(fn.argtypes, (list, tuple)), name
        since = raw._since(name)
        assert since is not None, name
        assert node.removeprefix("LIBBPF_") == since, (name, node, since)


def test_elf_reader_agrees_with_nm():
    path = loaded_libbpf_file()
    nm = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True)
    need(nm.returncode == 0, "binutils (nm) not installed")
    from_nm = {}
    for line in nm.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("T", "i"):
            name, _, node = parts[2].partition("@@")
            if not node:
                name, _, node = parts[2].partition("@")
            from_nm.setdefault(name, node)
    assert _elf.exported_functions(path) == from_nm


def test_elf_reader_rejects_non_elf(tmp_path):
    bogus = tmp_path / "not.so"
    bogus.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an ELF file"):
        _elf.exported_functions(str(bogus))


# -- record layouts ----------------------------------------------------------------------

def _c_type(name: str, cls: type) -> str | None:
    if name == "__va_list_tag":
        # The x86_64 ABI's va_list element; only spelled through va_list.
        return "__typeof__((*(va_list *)0)[0])" if os.uname().machine == "x86_64" else None
    if name.startswith("_anon"):
        return None  # reached through its named parent
    kind = "union" if issubclass(cls, ctypes.Union) else "struct"
    return f"{kind} {name}"


def _members(cls: type, prefix: str = "", base: int = 0):
    """(C member designator, offset, size) of every named non-bitfield member,
    through anonymous and nested records."""
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field in cls._fields_:
        fname, ftype = field[0], field[1]
        if len(field) == 3 or fname.startswith("_pad"):
            continue  # bitfield: not addressable in C
        desc = getattr(cls, fname)
        off = base + desc.offset
        if fname in anonymous:
            yield from _members(ftype, prefix, off)
            continue
        path = prefix + fname
        yield path, off, ctypes.sizeof(ftype)
        if isinstance(ftype, type) and issubclass(ftype, (ctypes.Structure, ctypes.Union)):
            yield from _members(ftype, path + ".", off)


def test_record_layouts_match_the_c_compiler(tmp_path):
    need(subprocess.run(["which", "gcc"], capture_output=True).returncode == 0,
         "gcc not installed")
    checks = []
    lines = ["#include <stdarg.h>", "#include <stddef.h>", "#include <stdio.h>",
             "#include <bpf/libbpf.h>", "#include <bpf/bpf.h>", "#include <bpf/btf.h>",
             "#include <bpf/libbpf_legacy.h>", "#include <linux/perf_event.h>",
             "#include <linux/btf.h>", "int main(void) {"]
    for name, cls in raw.RECORDS.items():
        ctype = _c_type(name, cls)
        if ctype is None:
            continue
        lines.append(f'printf("%zu\\n", sizeof({ctype}));')
        checks.append((f"sizeof({name})", ctypes.sizeof(cls)))
        for path, off, size in _members(cls):
            lines.append(f'printf("%zu %zu\\n", offsetof({ctype}, {path}), '
                         f'sizeof((({ctype} *)0)->{path}));')
            checks.append((f"{name}.{path}", (off, size)))
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-w", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    got = out.splitlines()
    assert len(got) == len(checks)
    bad = []
    for (what, expected), line in zip(checks, got, strict=True):
        nums = tuple(int(x) for x in line.split())
        value = nums[0] if len(nums) == 1 else nums
        if value != expected:
            bad.append(f"{what}: C {value} ctypes {expected}")
    assert len(checks) > 400  # every record, hundreds of members
    assert not bad, bad


# -- newer symbols -----------------------------------------------------------------------

def test_missing_newer_symbol_names_the_version(monkeypatch):
    monkeypatch.setitem(raw._NEWER, "libbpf_from_the_future",
                        ("9.7", ctypes.c_int, [ctypes.c_int]))
    with pytest.raises(NotSupportedError) as info:
        _ = raw.lib.libbpf_from_the_future
    err = info.value
    assert "libbpf >= 9.7" in str(err)
    assert err.requires == "libbpf >= 9.7"
    assert err.feature == "libbpf_from_the_future"
    assert raw.version in str(err)
    assert not raw.is_available("libbpf_from_the_future")


def test_real_newer_symbols_bind_where_present_and_name_their_version_where_absent():
    absent = [n for n in raw._NEWER if not raw.is_available(n)]
    if raw.version_tuple < (1, 5):
        assert absent, "this libbpf predates some of _newer's functions"
    for name in raw._NEWER:
        if name in absent:
            with pytest.raises(NotSupportedError,
                               match=rf"needs libbpf >= {raw._NEWER[name][0]}"):
                getattr(raw.lib, name)
        else:
            assert callable(getattr(raw.lib, name))


def test_unknown_function_is_attribute_error():
    with pytest.raises(AttributeError, match="no public function"):
        _ = raw.lib.bpf_no_such_thing


def test_newer_symbols_present_are_bound_with_their_prototype():
    for name, (_ver, restype, argtypes) in raw._NEWER.items():
        if raw.is_available(name):
            fn = getattr(raw.lib, name)
            assert fn.restype is restype and list(fn.argtypes) == list(argtypes)


# -- error helpers and opts ----------------------------------------------------------------

def test_check_int_and_check_ptr():
    assert raw.check_int(5, "f") == 5
    with pytest.raises(OSError) as info:
        raw.check_int(-2, "bpf_thing", "map 'x'")
    assert info.value.errno == 2
    assert "bpf_thing() on map 'x' failed" in str(info.value)
    ctypes.set_errno(0)
    with pytest.raises(OSError) as info:
        raw.check_ptr(None, "bpf_other")
    assert info.value.errno == 22  # libbpf left no errno: EINVAL rather than 0
    assert raw.check_ptr(1234, "f") == 1234


def test_opts_sets_size_and_rejects_unknown_fields():
    o = raw.opts("bpf_test_run_opts", repeat=3)
    assert o.sz == ctypes.sizeof(raw.RECORDS["bpf_test_run_opts"])
    assert o.repeat == 3
    with pytest.raises(TypeError, match="no field repeet"):
        raw.opts("bpf_test_run_opts", repeet=3)
    # fields of anonymous members are reachable by name
    raw.opts("bpf_link_create_opts", target_btf_id=1)


# -- logging -----------------------------------------------------------------------------

def test_libbpf_messages_reach_the_logger_formatted(caplog, bpf_object_path):
    caplog.set_level(logging.DEBUG, logger="libbpfpy.libbpf")
    with pytest.raises(OSError):
        Object.open(libbpf_refused_object(bpf_object_path), name="logging-probe")
    records = [r for r in caplog.records if r.name == "libbpfpy.libbpf"]
    assert records, "no libbpf message reached logging"
    text = "\n".join(r.getMessage() for r in records)
    assert "logging-probe" in text  # a %s argument, formatted from the va_list
    assert "%s" not in text and "%d" not in text
    assert any(r.levelno == logging.WARNING for r in records)


def test_long_messages_are_formatted_whole(caplog, bpf_object_path):
    # A verifier log is one printf("%s") of many kilobytes: more than the first
    # formatting buffer, so the va_list must be replayed from its saved copy.
    need_privileges()
    caplog.set_level(logging.WARNING, logger="libbpfpy.libbpf")
    with Object.open(bpf_object_path("core_bad")) as obj:
        for prog in obj.programs.values():
            prog.autoload = prog.name == "long_then_bad"
        with pytest.raises(OSError):
            obj.load()
    messages = [r.getMessage() for r in caplog.records if "BEGIN PROG LOAD LOG" in
                r.getMessage()]
    assert messages
    assert len(messages[0]) > 4096
    assert "invalid access to map value" in messages[0]
    assert messages[0].rstrip().endswith("-- END PROG LOAD LOG --")


def test_capture_log_collects_in_this_thread_only(bpf_object_path):
    with raw.capture_log() as lines:
        with pytest.raises(OSError):
            Object.open(libbpf_refused_object(bpf_object_path), name="captured")
    assert any("captured" in line for line in lines)
    with raw.capture_log() as lines2:
        pass
    assert lines2 == []


# -- enums -------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, cenum, prefix, strfn", [
    (ProgType, "bpf_prog_type", "BPF_PROG_TYPE_", "libbpf_bpf_prog_type_str"),
    (MapType, "bpf_map_type", "BPF_MAP_TYPE_", "libbpf_bpf_map_type_str"),
    (AttachType, "bpf_attach_type", "BPF_", "libbpf_bpf_attach_type_str"),
    (LinkType, "bpf_link_type", "BPF_LINK_TYPE_", "libbpf_bpf_link_type_str"),
])
def test_enums_match_headers_and_libbpf_names(cls, cenum, prefix, strfn):
    expected = {k[len(prefix):]: v for k, v in raw.ENUMS[cenum].items()
                if k.startswith(prefix) and not k.startswith("__MAX")}
    assert {m.name: m.value for m in cls} == expected
    named = 0
    for member in cls:
        c_name = getattr(raw.lib, strfn)(int(member))
        if c_name:
            named += 1
            assert member.libbpf_name == c_name.decode()
            assert str(member) == c_name.decode()
            assert parse_enum(cls, c_name.decode()) is member
        assert parse_enum(cls, member.name) is member
        assert parse_enum(cls, int(member)) is member
    assert named >= len(expected) - 2  # libbpf names all but placeholders


def test_enum_values_match_the_c_compiler(tmp_path):
    # The table's enumerators against gcc compiling the installed headers: an oracle
    # independent of the generator.  Enumerators newer than the installed headers
    # (the table may come from a newer libbpf) are dropped, and must stay few.
    need(subprocess.run(["which", "gcc"], capture_output=True).returncode == 0,
         "gcc not installed")
    names = {k: v for values in raw.ENUMS.values() for k, v in values.items()}
    header = ["#include <stdio.h>", "#include <bpf/libbpf.h>", "#include <bpf/bpf.h>",
              "#include <bpf/btf.h>", "#include <linux/bpf.h>", "#include <linux/btf.h>",
              "#include <linux/perf_event.h>", "int main(void) {"]
    src, exe = tmp_path / "enums.c", tmp_path / "enums"
    wanted = sorted(names)
    for _ in range(3):
        body = [f'printf("%lld\\n", (long long)({n}));' for n in wanted]
        src.write_text("\n".join(header + body + ["return 0; }"]))
        res = subprocess.run(["gcc", "-w", "-o", str(exe), str(src)], capture_output=True,
                             text=True)
        if res.returncode == 0:
            break
        missing = set(re.findall(r"[‘'](\w+)[’'] undeclared", res.stderr))
        assert missing, res.stderr[-2000:]
        wanted = [n for n in wanted if n not in missing]
    else:
        pytest.fail("enumerators still undeclared after three passes")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    got = dict(zip(wanted, (int(x) for x in out.split()), strict=True))
    assert len(got) >= 0.9 * len(names), sorted(set(names) - set(got))
    # printed as long long: a u64 enumerator such as PERF_CONTEXT_HV ((__u64)-32)
    # comes out negative, so compare the 64-bit patterns
    bad = {n: (names[n], v) for n, v in got.items() if (names[n] - v) % 2**64}
    assert not bad, bad


def test_known_libbpf_names():
    assert ProgType.TRACEPOINT.libbpf_name == "tracepoint"
    assert MapType.PERCPU_HASH.libbpf_name == "percpu_hash"
    assert AttachType.TRACE_ITER.libbpf_name == "trace_iter"
    assert LinkType.XDP.libbpf_name == "xdp"
    assert parse_enum(ProgType, "sched_cls") is ProgType.SCHED_CLS
    assert parse_enum(MapType, "lru-hash") is MapType.LRU_HASH


def test_unknown_enum_values_do_not_raise():
    odd = ProgType(4000)
    assert odd == 4000 and odd.name == "UNKNOWN_4000"
    assert odd.libbpf_name == "unknown_4000"
    with pytest.raises(ValueError, match="unknown MapType"):
        parse_enum(MapType, "no-such-map")


def test_version():
    major, minor = raw.version_tuple
    assert libbpf_version() == f"{major}.{minor}"
    assert (major, minor) >= (1, 1)
