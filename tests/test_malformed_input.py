"""Malformed input files (issue 12, items 4 and 5): every one ends in a BPFError
subclass -- FormatError naming what is wrong -- before libbpf or libbpfpy's decoders
trust it; the CLI prints one line; a FIFO never blocks.

Each input is one targeted corruption of a fixture (a BTF type id out of range, a
name offset past the strings, a type cycle...).  The cases that crashed libbpf or
hung run in a child process, so a regression fails the test instead of the suite.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, child_ok, run_python
from libbpfpy import BTF, BPFError, FormatError, Object
from libbpfpy.btf import Kind

sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
import mutate  # noqa: E402

PY = sys.executable


# -- surgery on BTF --------------------------------------------------------------------

def records(blob: bytes) -> list[tuple[int, int, int]]:
    """(offset, kind, vlen) of each type record of a raw BTF blob (id = index + 1)."""
    _, offs = mutate._btf_records(blob)
    out = []
    for off in offs:
        info = struct.unpack_from("<I", blob, off + 4)[0]
        out.append((off, (info >> 24) & 0x1F, info & 0xFFFF))
    return out


def first(blob: bytes, kind: Kind) -> tuple[int, int]:
    """(type id, record offset) of the first type of ``kind``."""
    for i, (off, k, _vlen) in enumerate(records(blob)):
        if k == kind:
            return i + 1, off
    raise AssertionError(f"no {kind.name} in the blob")


def put(blob: bytes, off: int, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<I", b, off, value)
    return bytes(b)


@pytest.fixture(scope="module")
def zoo(bpf_object_path) -> bytes:
    """The raw .BTF of btf_zoo.bpf.o: structs, unions, typedefs, arrays, enums."""
    raw = mutate.btf_section(open(bpf_object_path("btf_zoo"), "rb").read())
    assert raw is not None
    return raw


def in_child(code: str, timeout: float = 60) -> None:
    proc = run_python(textwrap.dedent(code), timeout=timeout)
    assert proc.returncode == 0, child_ok(proc)


def refused(code_that_raises: str, match: str) -> str:
    """Child code: the statement must raise FormatError mentioning ``match``."""
    return f"""
        from libbpfpy import BTF, Object, FormatError
        try:
            {code_that_raises}
        except FormatError as exc:
            assert {match!r} in str(exc), str(exc)
        else:
            raise AssertionError("accepted")
    """


# -- BTF blobs -------------------------------------------------------------------------

def test_type_id_out_of_range_is_refused_before_btf_dump(zoo, tmp_path):
    # libbpf 1.1 accepts this blob, then btf_dump / format_value read past its types.
    tid, off = first(zoo, Kind.PTR)
    bad = put(zoo, off + 8, 0xFFFFF)           # the pointer's target
    path = tmp_path / "bad.btf"
    path.write_bytes(bad)
    in_child(refused(f"BTF.from_file({str(path)!r}).to_c()", "beyond the last one"))
    with pytest.raises(FormatError, match=rf"type \[{tid}\]"):
        BTF.from_bytes(bad)


def test_member_of_a_bad_type_is_refused(zoo):
    tid, off = first(zoo, Kind.STRUCT)
    with pytest.raises(FormatError, match=rf"type \[{tid}\]: member 0 refers"):
        BTF.from_bytes(put(zoo, off + 12 + 4, 0x7FFFFFFF))   # member 0's type


def test_name_offsets_past_the_strings_are_refused(zoo):
    _tid, off = first(zoo, Kind.STRUCT)
    with pytest.raises(FormatError, match="past the string section"):
        BTF.from_bytes(put(zoo, off, 0x00FFFFFF))


def test_type_cycles_without_a_pointer_are_refused(zoo, tmp_path):
    tid, off = first(zoo, Kind.TYPEDEF)
    selfref = put(zoo, off + 8, tid)            # typedef T T;
    in_child(refused(f"BTF.from_bytes({selfref!r}).to_c()", "itself"), timeout=60)
    # a struct holding itself by value
    sid, soff = first(zoo, Kind.STRUCT)
    with pytest.raises(FormatError, match="itself"):
        BTF.from_bytes(put(zoo, soff + 12 + 4, sid))
    # pointers that only point at pointers: never a named type
    pid, poff = first(zoo, Kind.PTR)
    with pytest.raises(FormatError, match="itself"):
        BTF.from_bytes(put(zoo, poff + 8, pid))


def test_union_members_must_start_at_zero(zoo):
    # A union member at byte 8 used to end in an AssertionError in the ctypes builder.
    uid, off = first(zoo, Kind.UNION)
    blob = zoo
    info = struct.unpack_from("<I", blob, off + 4)[0]
    if info >> 31:  # kind_flag: bitfield size in the top 8 bits, keep it 0
        pass
    with pytest.raises(FormatError, match="union member"):
        BTF.from_bytes(put(blob, off + 12 + 8, 64))


def test_huge_arrays_are_bounded(zoo):
    aid, off = first(zoo, Kind.ARRAY)
    with pytest.raises(FormatError, match="exceed 4 GiB"):
        BTF.from_bytes(put(zoo, off + 12 + 8, 0xFFFFFFFF))   # nelems
    # a big but legal array decodes at C speed (not element by element in Python)
    with BTF.from_bytes(put(zoo, off + 12 + 8, 1 << 22)) as btf:
        t = btf[aid]
        codec = btf.codec(t)
        assert len(codec.decode(bytes(codec.size))) == 1 << 22 or codec.size == 0


def test_deep_type_chains_are_refused_not_recursion_errors(zoo):
    """A chain of thousands of qualifiers used to end in RecursionError."""
    blob = bytearray(zoo)
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<IIIII", blob, 4)
    n = len(records(zoo))
    # const (const (const ... int)): ids n+1 .. n+3000, each pointing at the next
    chain = b"".join(struct.pack("<III", 0, 10 << 24, n + i + 1) for i in range(1, 3000))
    chain += struct.pack("<III", 0, 10 << 24, 1)
    types = bytes(blob[hdr_len + type_off:hdr_len + type_off + type_len]) + chain
    strings = bytes(blob[hdr_len + str_off:hdr_len + str_off + str_len])
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                         len(strings))
    with pytest.raises(FormatError, match="nest more than"):
        BTF.from_bytes(header + types + strings)


def test_non_btf_and_truncated_blobs(zoo):
    for bad in (b"", b"\x9f\xeb" + bytes(10), zoo[:30], b"\x9f\xeb\x02" + zoo[3:]):
        with pytest.raises(FormatError):
            BTF.from_bytes(bad)


# -- objects ---------------------------------------------------------------------------

def test_extern_with_a_bad_name_is_refused_before_libbpf(bpf_object_path):
    # libbpf 1.1 resolves externs by comparing BTF names: a name offset past the
    # strings gave it NULL and strcmp() crashed (SIGSEGV in bpf_object__open).
    data = open(bpf_object_path("core_obj"), "rb").read()
    raw = mutate.btf_section(data)
    elf = mutate._Elf(data)
    start = elf.sections[elf.by_name(b".BTF")][4]
    strings_at = struct.unpack_from("<I", raw, 16)[0] + 24
    name = raw.index(b"\0LINUX_KERNEL_VERSION\0") + 1 - strings_at
    for off, kind, _vlen in records(raw):
        if kind == Kind.VAR and struct.unpack_from("<I", raw, off)[0] == name:
            bad = put(data, start + off, 0x00FFFFF0)
            break
    else:
        raise AssertionError("no VAR LINUX_KERNEL_VERSION")
    in_child(refused(f"Object.open({bad!r}, name='ext')", "past the string section"))


def test_non_utf8_program_names_are_refused(bpf_object_path):
    data = open(bpf_object_path("hello"), "rb").read()
    bad = data.replace(b"\0mmap_enter\0", b"\0mmap_\xc3nter\0")
    assert bad != data
    with pytest.raises(FormatError, match="not a C identifier|not valid"):
        Object.open(bad)


def test_sections_past_the_end_of_the_file(bpf_object_path):
    data = open(bpf_object_path("hello"), "rb").read()
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    bad = put(data, shoff + 64 + 24, len(data) + 100)   # section 1's offset (low word)
    with pytest.raises(FormatError, match="run past the end of the file"):
        Object.open(bad)
    with pytest.raises(FormatError, match="section header table"):
        Object.open(data[:shoff + 10])


def test_relocation_outside_its_section(bpf_object_path):
    data = open(bpf_object_path("hello"), "rb").read()
    elf = mutate._Elf(data)
    rel = next(s for s in elf.sections if s[1] == 9)
    bad = put(data, rel[4], 0x7FFF0)                 # r_offset of the first entry
    with pytest.raises(FormatError, match="is not an instruction inside section"):
        Object.open(bad)


@pytest.mark.parametrize("opener", ["Object.open", "BTF.from_file"])
def test_a_fifo_is_refused_not_waited_on(tmp_path, opener):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    in_child(f"""
        from libbpfpy import BTF, Object, BPFError
        try:
            {opener}({str(fifo)!r})
        except BPFError as exc:
            assert "FIFO" in str(exc), exc
        else:
            raise AssertionError("opened a FIFO")
    """, timeout=20)


@pytest.mark.parametrize("argv", [["inspect"], ["btf", "dump"]])
def test_cli_refuses_a_fifo_in_one_line(tmp_path, argv):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.run([PY, "-m", "libbpfpy", *argv, str(fifo)], capture_output=True,
                          text=True, timeout=20, env=dict(os.environ,
                                                          PYTHONPATH=str(ROOT / "src")))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "FIFO" in proc.stderr, proc.stderr


@pytest.mark.parametrize("argv", [["inspect"], ["btf", "dump"], ["btf", "dump", "--format",
                                                                  "c"], ["skel"]])
def test_cli_prints_one_line_for_a_malformed_object(tmp_path, bpf_object_path, argv):
    data = open(bpf_object_path("btf_zoo"), "rb").read()
    raw = mutate.btf_section(data)
    elf = mutate._Elf(data)
    start = elf.sections[elf.by_name(b".BTF")][4]
    _tid, off = first(raw, Kind.PTR)
    bad = tmp_path / "bad.bpf.o"
    bad.write_bytes(put(data, start + off + 8, 0xFFFFF))
    proc = subprocess.run([PY, "-m", "libbpfpy", *argv, str(bad)], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ,
                                                          PYTHONPATH=str(ROOT / "src")))
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith("libbpfpy: malformed ") and \
        proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_isolated_reading_survives_a_crash():
    from libbpfpy.cli._isolated import isolated

    def crash() -> None:
        import signal
        os.kill(os.getpid(), signal.SIGSEGV)

    with pytest.raises(BPFError, match=r"crashed libbpf \(SIGSEGV\)"):
        isolated("thing.o", crash)
    assert isolated("x", lambda a: a * 2, 21) == 42
    with pytest.raises(FormatError):
        isolated("x", BTF.from_bytes, b"nope")


def test_fuzz_smoke():
    """A few hundred mutated objects and BTF blobs through the fuzz harness: no
    crash, no hang, nothing but BPFError (the full runs are `make fuzz`)."""
    proc = subprocess.run([PY, str(ROOT / "tests" / "fuzz" / "run.py"), "--cases", "150",
                           "--seed", "12", "--no-load", "--save", "/tmp/libbpfpy-fuzz-smoke"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_records_with_huge_holes_are_refused(zoo):
    """A struct of 300 MB with a few members made libbpf's C dump write ~330 MB of
    padding lines (seconds, and a hang for larger ones)."""
    sid, off = first(zoo, Kind.STRUCT)
    with pytest.raises(FormatError, match="a hole of .* bytes no member covers"):
        BTF.from_bytes(put(zoo, off + 8, 300 << 20))        # the struct's size
    # twenty structs, each with a hole just under the limit: too much together
    strings = b"\0int\0x\0"
    types = struct.pack("<IIII", 1, 1 << 24, 4, (1 << 24) | 32)          # [1] int
    for _ in range(20):                                                   # anonymous
        types += struct.pack("<III", 0, (4 << 24) | 1, 1 << 20)           # struct of
        types += struct.pack("<III", 5, 1, 0)                             # 1 MiB: x
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                         len(strings))
    with pytest.raises(FormatError, match="add up to more than 16 MiB"):
        BTF.from_bytes(header + types + strings)
    five = types[:16 + 24 * 5]
    header5 = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(five), len(five),
                          len(strings))
    with BTF.from_bytes(header5 + five + strings):                    # five: fine
        pass
