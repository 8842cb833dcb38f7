"""The raw layer: every exported libbpf function bound, struct layouts as the C
compiler lays them out, newer symbols refused by version, libbpf's log routed to
logging, kernel enums named by libbpf."""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import libbpf_refused_object, need, need_privileges
from libbpfpy import NotSupportedError, Object, libbpf_version
from libbpfpy import _raw as raw
from libbpfpy._raw import _elf
from libbpfpy.enums import AttachType, LinkType, MapType, ProgType, parse_enum

ROOT = Path(__file__).resolve().parents[1]
INPUTS_JSON = ROOT / "build" / "libbpf-inputs" / "inputs.json"
SID_LIBBPF = ROOT / "build" / "libbpf-sid" / "lib" / "libbpf.so.1"
HEADERS = ["bpf/libbpf.h", "bpf/bpf.h", "bpf/btf.h", "bpf/libbpf_legacy.h",
           "linux/perf_event.h", "linux/btf.h"]


def inputs() -> dict:
    """What scripts/gen_raw.py generated the table from (fetched by `make setup`)."""
    need(INPUTS_JSON.exists(), f"{INPUTS_JSON} missing")
    return json.loads(INPUTS_JSON.read_text())


def loaded_libbpf_file() -> str:
    """The file the process actually loaded libbpf from, read from /proc/self/maps
    (an oracle independent of _raw.library_file's dladdr)."""
    lib_ino = os.stat(raw.library_file()).st_ino
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libbpf" in line and "/" in line}
    assert paths, "no libbpf mapped"
    found = [p for p in paths if os.path.exists(p) and os.stat(p).st_ino == lib_ino]
    assert found, (paths, raw.library_file())
    return found[0]


def other_libbpf() -> str:
    """A libbpf other than the loaded one: the 1.7 build when the system's 1.1 is
    loaded, the system's otherwise (both exist after `make setup`)."""
    if raw.version_tuple < (1, 7):
        need(SID_LIBBPF.exists(), f"{SID_LIBBPF} missing (make libbpf)")
        return str(SID_LIBBPF)
    system = "/usr/lib/x86_64-linux-gnu/libbpf.so.1" if os.uname().machine == "x86_64" \
        else ctypes.util.find_library("bpf")
    need(system is not None and os.path.exists(system), "the system's libbpf1")
    return str(system)


def run_with_libbpf(path: str, code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LIBBPFPY_LIBBPF=path, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)


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
    expected = {"1.1": 304, "1.4": 329, "1.7": 356}
    if raw.version in expected:
        assert len(exported) == expected[raw.version]


def test_library_file_is_the_mapped_libbpf():
    assert os.path.samefile(raw.library_file(), loaded_libbpf_file())
    if os.environ.get("LIBBPFPY_LIBBPF"):
        assert os.path.samefile(raw.library_file(), os.environ["LIBBPFPY_LIBBPF"])


def test_the_table_covers_every_function_of_libbpf_17():
    # The .so and the headers the table was generated from, read independently of
    # the generator: ELF symbols for the one, gcc's -aux-info for the other.
    inp = inputs()
    assert inp["version"] == raw.table_version == "1.7"
    assert raw._table.INPUTS["libbpf-dev"] == inp["packages"]["libbpf-dev"], \
        "the fetched libbpf-dev is not the one the table was generated from: " \
        "run scripts/gen_raw.py"
    exported = _elf.exported_functions(inp["so"])
    assert len(exported) == 356
    assert sorted(exported) == sorted(raw._PROTOTYPES)
    for name, node in exported.items():
        assert raw._SINCE[name] == node.removeprefix("LIBBPF_"), name
    declared = _header_functions(inp["include"], inp["include"][0])
    assert declared == set(exported)


def _header_functions(include: list[str], under: str) -> set[str]:
    import re
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "h.c"
        src.write_text("".join(f"#include <{h}>\n" for h in HEADERS[:4]))
        aux = Path(tmp) / "aux.txt"
        subprocess.run(["gcc", *(f"-I{d}" for d in include), "-aux-info", str(aux),
                        "-c", str(src), "-o", os.devnull], check=True)
        names = set()
        for line in aux.read_text().splitlines():
            if line.startswith(f"/* {under}") and " extern " in line:
                m = re.search(r"(\w+) \(", line.split("*/", 1)[1])
                assert m, line
                names.add(m.group(1))
    return names


def test_functions_added_since_11_name_their_release_when_absent():
    # The loaded libbpf and another (1.1 <-> 1.7): whichever is older refuses the
    # 52 functions added since 1.1, each naming its release, and binds the rest.
    code = """
import json
from libbpfpy import _raw as raw
from libbpfpy.errors import NotSupportedError
out = {}
for name in raw._PROTOTYPES:
    try:
        getattr(raw.lib, name)
        out[name] = None
    except NotSupportedError as exc:
        out[name] = [str(exc), exc.requires]
print(json.dumps([raw.version, out]))
"""
    results = {}
    for path in (raw.library_file(), other_libbpf()):
        res = run_with_libbpf(path, code)
        assert res.returncode == 0, res.stderr
        version, out = json.loads(res.stdout)
        results[version] = out
    assert "1.7" in results and len(results) == 2, results.keys()
    for version, out in results.items():
        refused = {n: v for n, v in out.items() if v is not None}
        # exactly the functions newer than that libbpf, each naming its release
        assert set(refused) == {n for n in out if raw._vkey(raw._since(n)) >
                                raw._vkey(version)}, version
        for name, (message, requires) in refused.items():
            since = raw._since(name)
            assert message.startswith(f"{name}() needs libbpf >= {since}, this is "
                                      f"{version} ("), message
            assert requires == f"libbpf >= {since}"
    assert not any(results["1.7"].values())
    if "1.1" in results:
        refused = {n: v for n, v in results["1.1"].items() if v is not None}
        assert len(refused) == 52  # 356 - 304
        assert refused["bpf_program__attach_tcx"][0].startswith(
            "bpf_program__attach_tcx() needs libbpf >= 1.3, this is 1.1")
        # declared by 1.1's headers without being exported
        assert refused["libbpf_set_memlock_rlim"][1] == "libbpf >= 1.4"


def test_every_function_has_argtypes_and_version_node():
    exported = _elf.exported_functions(loaded_libbpf_file())
    for name, node in exported.items():
        fn = getattr(raw.lib, name)
        assert isinstance(fn.argtypes, (list, tuple)), name
        assert raw._SINCE[name] == node.removeprefix("LIBBPF_"), (name, node)


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
    # Compiled against the headers the table was generated from (libbpf 1.7's).
    need(subprocess.run(["which", "gcc"], capture_output=True).returncode == 0,
         "gcc not installed")
    checks = []
    lines = ["#include <stdarg.h>", "#include <stddef.h>", "#include <stdio.h>",
             *(f"#include <{h}>" for h in HEADERS), "int main(void) {"]
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
    subprocess.run(["gcc", "-w", *(f"-I{d}" for d in inputs()["include"]), "-o", str(exe),
                    str(src)], check=True)
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


# -- newer symbols and newer fields ----------------------------------------------------

def test_missing_symbol_names_the_version(monkeypatch):
    monkeypatch.setitem(raw._PROTOTYPES, "libbpf_from_the_future",
                        (ctypes.c_int, [ctypes.c_int]))
    monkeypatch.setitem(raw._SINCE, "libbpf_from_the_future", "9.7.0")
    with pytest.raises(NotSupportedError) as info:
        _ = raw.lib.libbpf_from_the_future
    err = info.value
    assert str(err).startswith(f"libbpf_from_the_future() needs libbpf >= 9.7, this is "
                               f"{raw.version} ({raw.library_file()})")
    assert err.requires == "libbpf >= 9.7"
    assert err.feature == "libbpf_from_the_future"
    assert not raw.is_available("libbpf_from_the_future")


def test_opts_sizes_match_each_release_headers(tmp_path):
    # For every opts struct that grew, the sz passed to libbpf release R is the end of
    # the last field R's own header has: checked with gcc against each compared
    # release's libbpf-dev headers (fetched by make setup).
    inp = inputs()
    releases = dict(inp["history"], **{inp["version"]: {"include": inp["include"][0]}})
    assert set(releases) == set(raw._table.RELEASES_COMPARED)
    for release, info in releases.items():
        lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <bpf/libbpf.h>",
                 "#include <bpf/bpf.h>", "#include <bpf/btf.h>", "int main(void) {"]
        expected = []
        for struct, newer in raw._FIELD_SINCE.items():
            extents = raw._field_extents(raw.RECORDS[struct])
            present = [f for f in extents if f not in newer or
                       raw._vkey(newer[f]) <= raw._vkey(release)]
            if not _struct_in(release, struct, info["include"], inp, tmp_path):
                continue
            lines.append("{ size_t m = 0, e;")
            for f in present:
                lines.append(f"e = offsetof(struct {struct}, {f}) + "
                             f"sizeof(((struct {struct} *)0)->{f}); if (e > m) m = e;")
            if len(present) == len(extents):  # all of it: sizeof, as LIBBPF_OPTS() passes
                lines.append(f"m = sizeof(struct {struct});")
            lines.append('printf("%zu\\n", m); }')
            expected.append((struct, raw.size_for_release(struct, raw._vkey(release))))
        lines.append("return 0; }")
        src = tmp_path / f"sizes{release}.c"
        src.write_text("\n".join(lines))
        exe = tmp_path / f"sizes{release}"
        subprocess.run(["gcc", "-w", f"-I{info['include']}", f"-I{inp['include'][1]}",
                        "-o", str(exe), str(src)], check=True)
        got = subprocess.run([str(exe)], capture_output=True, text=True,
                             check=True).stdout.split()
        assert [(s, int(g)) for (s, _), g in zip(expected, got, strict=True)] == expected, \
            release


def _struct_in(release: str, struct: str, include: str, inp: dict, tmp_path: Path) -> bool:
    """Whether libbpf ``release``'s headers define ``struct``."""
    src = tmp_path / "has.c"
    src.write_text("#include <bpf/libbpf.h>\n#include <bpf/bpf.h>\n#include <bpf/btf.h>\n"
                   f"int x = sizeof(struct {struct});\n")
    return subprocess.run(["gcc", "-w", f"-I{include}", f"-I{inp['include'][1]}", "-c",
                           str(src), "-o", os.devnull], capture_output=True).returncode == 0


def test_newer_opts_fields_are_refused_by_older_libbpf():
    # token_fd (libbpf >= 1.4) in bpf_prog_load_opts: refused by 1.1 with a clear
    # error, passed by 1.7 with the full size; unset, it costs nothing anywhere.
    code = """
import ctypes, json
from libbpfpy import _raw as raw
from libbpfpy.errors import NotSupportedError
plain = raw.opts("bpf_prog_load_opts", log_level=1)
try:
    raw.opts("bpf_prog_load_opts", token_fd=7)
    refused = None
except NotSupportedError as exc:
    refused = str(exc)
print(json.dumps([raw.version, plain.sz, ctypes.sizeof(plain), refused]))
"""
    seen = {}
    for path in (raw.library_file(), other_libbpf()):
        res = run_with_libbpf(path, code)
        assert res.returncode == 0, res.stderr
        version, sz, full, refused = json.loads(res.stdout)
        seen[version] = (sz, full, refused)
    assert "1.7" in seen and len(seen) == 2
    full = seen["1.7"][1]
    for version, (sz, size, refused) in seen.items():
        assert size == full
        if raw._vkey(version) < (1, 4):
            # 1.1's bpf_prog_load_opts ends after log_buf (checked against its
            # header by test_opts_sizes_match_each_release_headers)
            assert sz == raw.size_for_release("bpf_prog_load_opts", (1, 1)) < full
            assert refused.startswith(
                f"bpf_prog_load_opts.token_fd needs libbpf >= 1.4, this is {version}")
        else:
            assert refused is None
            assert sz == raw.size_for_release("bpf_prog_load_opts", raw._vkey(version))
    assert seen["1.7"] == (full, full, None)


def test_unknown_function_is_attribute_error():
    with pytest.raises(AttributeError, match="no public function"):
        _ = raw.lib.bpf_no_such_thing


def test_bound_functions_carry_the_table_prototype():
    for name, proto in raw._PROTOTYPES.items():
        if raw.is_available(name):
            fn = getattr(raw.lib, name)
            assert fn.restype is proto[0] and list(fn.argtypes) == list(proto[1]), name


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
    assert o.sz == raw.understood_size("bpf_test_run_opts") \
        == ctypes.sizeof(raw.RECORDS["bpf_test_run_opts"])  # unchanged since 1.0
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
    assert {name: m.value for name, m in cls.__members__.items()} == expected
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
    # libbpf names all but placeholders; an older libbpf than the table's headers
    # lacks names only for the newest values (those added after it).
    unnamed = [int(m) for m in cls if not getattr(raw.lib, strfn)(int(m))]
    if raw.version_tuple >= raw._vkey(raw.table_version):
        assert len(unnamed) <= 2, unnamed
    else:
        assert named > len(expected) // 2
        newest_named = max(int(m) for m in cls if getattr(raw.lib, strfn)(int(m)))
        assert len([v for v in unnamed if v < newest_named]) <= 2, unnamed


def test_enum_values_match_the_c_compiler(tmp_path):
    # The table's enumerators against gcc compiling the headers the table was made
    # from (libbpf 1.7's, fetched by make setup): an oracle independent of the
    # generator.  Enumerators those headers lack are dropped, and must stay few.
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
        res = subprocess.run(["gcc", "-w", *(f"-I{d}" for d in inputs()["include"]),
                              "-o", str(exe), str(src)], capture_output=True, text=True)
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


def test_version_cli_names_the_libbpf_selected():
    # libbpfpy --version with the loaded libbpf and with the other one (1.1 <-> 1.7)
    for path in (raw.library_file(), other_libbpf()):
        env = dict(os.environ, LIBBPFPY_LIBBPF=path, PYTHONPATH=str(ROOT / "src"))
        res = subprocess.run([sys.executable, "-m", "libbpfpy", "--version"],
                             capture_output=True, text=True, env=env, timeout=60)
        assert res.returncode == 0, res.stderr
        version = run_with_libbpf(path, "from libbpfpy import _raw; print(_raw.version)")
        assert f"(libbpf {version.stdout.strip()}: {os.path.realpath(path)})" in res.stdout
