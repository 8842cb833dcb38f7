"""BTF: reading types, ctypes/numpy layouts equal to BTF's, typed values from BPF."""
from __future__ import annotations

import ctypes
import enum

import pytest

from libbpfpy import BPFError, ClosedError, Object
from libbpfpy.btf import BTF, Kind, Struct, Union

RECORDS = (Kind.STRUCT, Kind.UNION)


# -- helpers: an independent check of a ctypes class against BTF ------------------------

def check_layout(btf: BTF, cls: type, t) -> int:
    """Assert that every member of BTF record ``t`` is where BTF says in ``cls``;
    return the number of members checked."""
    assert ctypes.sizeof(cls) == t.size, f"{btf.type_name(t)} size"
    checked = 0
    for m in t.members:
        if not m.name:  # anonymous: a field of the inner class, whose names cls exposes
            inner = btf.resolve(m.type_id)
            inner_cls = btf.ctypes_type(inner.id)
            anon = [f[0] for f in cls._fields_ if f[0] in getattr(cls, "_anonymous_", ())
                    and f[1] is inner_cls and getattr(cls, f[0]).offset == m.offset]
            assert anon, f"{btf.type_name(t)}: anonymous member at {m.offset}"
            checked += check_layout(btf, inner_cls, inner)
            for im in inner.members:
                if im.name:
                    assert hasattr(cls, _py(im.name)), f"{btf.type_name(t)}.{im.name}"
            continue
        name = _py(m.name)
        if m.bitfield_size:
            storage, shift, bits, _signed = cls.__dict__["_btf_bitfields_"][name]
            assert bits == m.bitfield_size, f"{btf.type_name(t)}.{m.name} width"
            field = getattr(cls, storage)
            assert field.offset * 8 + shift == m.bit_offset, \
                f"{btf.type_name(t)}.{m.name} bit offset"
        else:
            field = getattr(cls, name)
            assert field.offset == m.bit_offset // 8, f"{btf.type_name(t)}.{m.name}"
            assert field.size == btf.size_of(m.type_id), f"{btf.type_name(t)}.{m.name} size"
        checked += 1
    return checked


def _py(name: str) -> str:
    return name + "_" if name in dir(Struct) or name in dir(Union) else name


@pytest.fixture
def zoo(bpf_object_path):
    with Object.open(bpf_object_path("btf_zoo")) as obj:
        yield obj


# -- reading BTF ------------------------------------------------------------------------

def test_vmlinux_types_by_name_and_kind():
    with BTF.vmlinux() as btf:
        assert len(btf) > 1000
        task = btf.type("task_struct")
        assert task.kind == Kind.STRUCT and task.name == "task_struct"
        assert btf.type("struct task_struct") is task
        assert btf.type(task.id) is task
        assert btf.size_of(task) == task.size > 0
        assert btf.align_of("task_struct") == 8
        pid = next(m for m in task.members if m.name == "pid")
        assert btf.type_name(pid.type_id) == "pid_t"
        assert btf.resolve(pid.type_id).name == "int"
        mtype = btf.type("enum bpf_map_type")
        assert mtype.kind in (Kind.ENUM, Kind.ENUM64)
        assert ("BPF_MAP_TYPE_RINGBUF", 27) in [tuple(v) for v in mtype.values]
        assert all(t.kind == Kind.UNION for t in btf.types(Kind.UNION))
        assert btf.find("no_such_type_anywhere") is None
        with pytest.raises(KeyError, match="no_such_type_anywhere"):
            btf.type("no_such_type_anywhere")
        with pytest.raises(KeyError):
            btf[len(btf) + 1]


def test_raw_btf_file_is_read_like_the_kernel_copy():
    with BTF.vmlinux() as kernel, BTF.from_file("/sys/kernel/btf/vmlinux") as raw:
        assert len(raw) == len(kernel)
        assert raw.type("task_struct").members == kernel.type("task_struct").members
        assert raw.raw_data() == kernel.raw_data()


def test_iteration_covers_every_id_in_order():
    with BTF.vmlinux() as btf:
        ids = [t.id for t in btf]
        assert ids == list(range(1, len(btf) + 1))
        kinds = {t.kind for t in btf}
        assert {Kind.INT, Kind.PTR, Kind.STRUCT, Kind.FUNC, Kind.FUNC_PROTO} <= kinds


def test_object_btf_from_file_bytes_and_object_agree(zoo, bpf_object_path):
    obj_types = [(t.kind, t.name) for t in zoo.btf]
    with BTF.from_file(bpf_object_path("btf_zoo")) as from_elf:
        assert [(t.kind, t.name) for t in from_elf] == obj_types
        raw = from_elf.raw_data()
    with BTF.from_bytes(raw) as from_raw:
        assert from_raw.type("zoo").size == zoo.btf.type("zoo").size == 272


def test_bad_btf_sources_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        BTF.from_file(tmp_path / "missing.o")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x7fELF not really" + bytes(100))
    with pytest.raises(BPFError):
        BTF.from_file(junk)
    with pytest.raises(BPFError):
        BTF.from_bytes(b"\x9f\xeb" + bytes(10))


def test_closed_btf_raises(zoo):
    btf = BTF.vmlinux()
    btf.close()
    btf.close()
    with pytest.raises(ClosedError):
        btf.type("task_struct")
    with pytest.raises(ClosedError):
        len(btf)
    obtf = zoo.btf
    zoo.close()
    with pytest.raises(ClosedError):
        obtf.ctypes_type("zoo")


def test_map_and_global_types(zoo):
    key, value = zoo.btf.map_types(zoo.maps["zoo_map"])
    assert zoo.btf.type_name(key) == "__u32"
    assert value.name == "zoo"
    key, value = zoo.btf.map_types(zoo.maps["by_name"])
    assert zoo.btf.type_name(key) == "char[8]"
    assert zoo.btf.type_name(value) == "enum zoo_color"
    names = {v.name: v for v in zoo.btf.variables()}
    assert names["zoo_map"].section == ".maps"
    assert names["LICENSE"].size == 4


# -- layouts ------------------------------------------------------------------------------

def test_zoo_layouts_equal_btf_for_every_record(zoo):
    btf = zoo.btf
    checked = 0
    for t in btf:
        if t.kind in RECORDS:
            checked += check_layout(btf, btf.ctypes_type(t.id), t)
    assert checked > 60


def test_zoo_member_kinds(zoo):
    btf = zoo.btf
    Zoo = btf.ctypes_type("zoo")
    assert issubclass(Zoo, Struct) and ctypes.sizeof(Zoo) == 272
    fields = dict((f[0], f[1]) for f in Zoo._fields_)
    assert fields["c"] is ctypes.c_int8 and fields["uc"] is ctypes.c_uint8
    assert fields["us"] is ctypes.c_uint16 and fields["ll"] is ctypes.c_int64
    assert fields["ull"] is ctypes.c_uint64 and fields["flag"] is ctypes.c_bool
    assert fields["name"]._type_ is ctypes.c_char and fields["name"]._length_ == 13
    assert fields["matrix"]._length_ == 2 and fields["matrix"]._type_._length_ == 3
    assert fields["typedefd"] is ctypes.c_uint32 and fields["cv"] is ctypes.c_int32
    assert fields["ptr"] is ctypes.c_uint64 and fields["rptr"] is ctypes.c_uint64
    assert fields["f"] is ctypes.c_float and fields["d"] is ctypes.c_double
    assert fields["color"] is ctypes.c_uint32 and fields["sgn"] is ctypes.c_int32
    assert fields["small"] is ctypes.c_uint8
    assert fields["flex"]._length_ == 0
    assert issubclass(btf.ctypes_type("zoo_union"), Union)
    assert ctypes.sizeof(btf.ctypes_type("zoo_packed")) == 7
    assert btf.align_of("zoo_packed") == 1
    assert ctypes.sizeof(btf.ctypes_type("zoo_aligned")) == 32
    # BTF does not record aligned(16): libbpf infers the natural alignment, while
    # the layout (offset 16, size 32) still comes from BTF's offsets.
    assert btf.align_of("zoo_aligned") == 4
    assert btf.ctypes_type("zoo_aligned").b.offset == 16
    assert btf.ctypes_type("zoo_anon_typedef").__name__ == "zoo_anon_typedef"
    assert btf.ctypes_type("zoo_u32") is ctypes.c_uint32
    # cached per BTF
    assert btf.ctypes_type("zoo") is Zoo


def test_numpy_dtype_offsets_equal_btf(zoo):
    import numpy as np  # setup installs numpy: missing, the test fails
    btf = zoo.btf
    dt = btf.numpy_dtype("zoo")
    t = btf.type("zoo")
    assert dt.itemsize == t.size
    for m in t.members:
        if m.name and not m.bitfield_size:
            assert dt.fields[m.name][1] == m.bit_offset // 8, m.name
            assert dt.fields[m.name][0].itemsize == btf.size_of(m.type_id), m.name
    assert dt.fields["name"][0] == np.dtype("S13")
    assert dt.fields["matrix"][0].shape == (2, 3)
    assert dt.fields["anon_a"][1] == dt.fields["anon_b"][1] == 124   # flattened
    assert dt.fields["sgn"][0] == np.dtype("<i4")


@pytest.mark.slow
def test_every_vmlinux_record_builds_with_btf_layout():
    with BTF.vmlinux() as btf:
        n = 0
        for t in btf:
            if t.kind in RECORDS:
                check_layout(btf, btf.ctypes_type(t.id), t)
                n += 1
        assert n > 1000


def test_enum_classes(zoo):
    Color = zoo.btf.enum_class("zoo_color")
    assert issubclass(Color, enum.IntEnum)
    assert {c.name: c.value for c in Color} == {"ZOO_RED": 0, "ZOO_GREEN": 1, "ZOO_BLUE": 7}
    Signed = zoo.btf.enum_class("enum zoo_signed")
    assert Signed.ZOO_NEG == -5
    assert zoo.btf.type("zoo_signed").signed and not zoo.btf.type("zoo_color").signed
    with BTF.vmlinux() as btf:
        big = next(iter(btf.types(Kind.ENUM64)), None)
        if big is not None:
            cls = btf.enum_class(big.id)
            assert [(m.name, m.value) for m in cls] == \
                [(v.name, v.value) for v in big.values
                 if v.value not in [w.value for w in big.values[:big.values.index(v)]]]
            assert btf.ctypes_type(big.id) in (ctypes.c_uint64, ctypes.c_int64)


def test_types_without_layout_are_refused(zoo):
    btf = zoo.btf
    func = next(btf.types(Kind.FUNC))
    with pytest.raises(TypeError, match="no data layout"):
        btf.ctypes_type(func.id)
    with pytest.raises(TypeError):
        btf.ctypes_type(0)
    with pytest.raises(KeyError, match="only holds the types"):
        btf.ctypes_type("process_info_not_here")


def test_struct_instances_take_plain_values(zoo):
    Zoo = zoo.btf.ctypes_type("zoo")
    z = Zoo(c=1, name="abc", matrix=[[1, 2, 3], [4, 5, 6]], inner={"c": 2, "q": 3},
            inners=[(4, 5), {"q": 6}], anon_b=7, nested_bits=31, bf2=-16, bf3=(1 << 40) - 1,
            color=zoo.btf.enum_class("zoo_color").ZOO_BLUE, at=(-1, 2))
    assert z.name == b"abc" and z.matrix[1][2] == 6 and z.inner.q == 3
    assert z.inners[0].c == 4 and z.inners[0].q == 5 and z.inners[1].q == 6
    assert z.anon_a == 7 and z.nested_bits == 31 and z.bf2 == -16 and z.bf3 == (1 << 40) - 1
    assert z.bf1 == 0 and z.at.a == -1
    assert repr(z).startswith("zoo(c=1, i=0,")
    assert "color=<zoo_color.ZOO_BLUE: 7>" in repr(z)
    assert z == Zoo.from_buffer_copy(bytes(z)) and z != Zoo()
    z.name = b"0123456789abc"
    z.name = "x"
    assert z.name == b"x" and bytes(z)[35:48] == b"x" + bytes(12)
    with pytest.raises(ValueError):
        z.name = "far too long for thirteen"
    z.anon_tag = b"abcdef"
    z.anon_tag = b"z"   # through the anonymous struct: still every byte
    assert z.anon_tag == b"z" and bytes(z._anon_128)[5:11] == b"z" + bytes(5)
    with pytest.raises(ValueError, match="bf1"):
        z.bf1 = 8
    with pytest.raises(TypeError, match="no member"):
        Zoo(nope=1)
    with pytest.raises(TypeError):
        Zoo(*range(100))


# -- values from and to BPF ----------------------------------------------------------------

@pytest.mark.root
def test_zoo_values_written_by_bpf_read_field_by_field(zoo):
    zoo.load()
    assert zoo.programs["fill"].test_run().retval == 0
    z = zoo.maps["zoo_map"][0]
    assert type(z) is zoo.btf.ctypes_type("zoo")
    assert (z.c, z.i, z.us, z.ll, z.ull) == (ord("Z"), -123456, 65001, -9000000000,
                                             18000000000000000000)
    assert (z.sc, z.uc, z.flag) == (-7, 250, True)
    assert z.name == b"hello, zoo!"
    assert [list(r) for r in z.matrix] == [[0, 1, 2], [10, 11, 12]]
    assert (z.inner.c, z.inner.q) == (ord("q"), 0x1122334455667788)
    assert (z.inners[0].c, z.inners[0].q, z.inners[1].c, z.inners[1].q) == (0, 1, ord("x"), -2)
    assert (z.u.halves.lo, z.u.halves.hi) == (0xBEEF, 0xDEAD)
    assert z.u.as_int == ctypes.c_int32(0xDEADBEEF).value
    assert list(z.u.bytes) == [0xEF, 0xBE, 0xAD, 0xDE]
    assert (z.anon_a, z.anon_b) == (0xA5A5A5A5, 0xA5A5)
    assert (z.nested_x, z.nested_bits, z.anon_tag) == (-42, 19, b"tag")
    assert (z.bf1, z.bf2, z.bf3) == (5, -9, 0xABCDEF1234)
    Color = zoo.btf.enum_class("zoo_color")
    assert z.color == Color.ZOO_BLUE and z.color_bits == Color.ZOO_GREEN
    assert z.sgn == -5 and z.small == 200
    assert z.typedefd == 4000000000 and z.cv == 0
    assert (z.ptr, z.rptr) == (0xFFFF888012345678, 0x1000)
    assert (z.f, z.d) == (1.5, -2.5)
    assert (z.at.a, z.at.b) == (-300, ord("b"))
    assert (z.packed.a, z.packed.b, z.packed.c) == (1, 0x01020304, -2)
    assert (z.aligned.a, z.aligned.b, z.aligned.tail) == (2, 77, 3)
    assert list(z.tail) == [9, 0, 8]
    d = z.to_dict()
    assert d["inner"] == {"c": ord("q"), "q": 0x1122334455667788}
    assert d["anon_b"] == 0xA5A5 and d["color"] is Color.ZOO_BLUE


@pytest.mark.root
def test_zoo_numpy_view_of_bpf_values(zoo):
    import numpy as np  # setup installs numpy: missing, the test fails
    zoo.load()
    zoo.programs["fill"].test_run()
    z = zoo.maps["zoo_map"][0]
    arr = np.frombuffer(bytes(z), dtype=zoo.btf.numpy_dtype("zoo"))
    rec = arr[0]
    assert rec["i"] == -123456 and rec["ull"] == 18000000000000000000
    assert rec["name"] == b"hello, zoo!"
    assert rec["matrix"].tolist() == [[0, 1, 2], [10, 11, 12]]
    assert rec["inner"]["q"] == 0x1122334455667788
    assert rec["inners"]["q"].tolist() == [1, -2]
    assert rec["u"]["halves"]["hi"] == 0xDEAD and rec["anon_b"] == 0xA5A5
    assert rec["f"] == np.float32(1.5) and rec["d"] == -2.5 and rec["sgn"] == -5
    assert rec["packed"]["b"] == 0x01020304 and rec["aligned"]["b"] == 77


@pytest.mark.root
def test_values_written_from_python_are_what_bpf_reads(zoo):
    zoo.load()
    Color = zoo.btf.enum_class("zoo_color")
    zoo.maps["zoo_map"][1] = {
        "i": -77, "ll": -(1 << 40), "name": "Jxy0K", "matrix": [[0, 0, 0], [0, 0, 99]],
        "inner": {"q": 1 << 62}, "bf1": 6, "bf2": -3, "bf3": (1 << 39) + 5,
        "nested_bits": 30, "color": Color.ZOO_GREEN, "color_bits": 7, "anon_b": 0x1234,
        "packed": (0, -5, 0), "aligned": {"b": 1000}, "at": {"a": -2}, "inners": [{}, {"c": 9}],
        "u": {"as_int": 0x7F00FF00}, "sgn": -5,
    }
    assert zoo.programs["check"].test_run().retval == 0
    out = zoo.maps["out_map"]
    signed = [ctypes.c_int64(out[i]).value for i in range(16)]
    assert signed[0] == -77
    assert signed[1] == -(1 << 40)
    assert signed[2] == ord("J") | (ord("K") << 8)
    assert signed[3] == 99
    assert signed[4] == 1 << 62
    assert signed[5] == 6 | (-3 << 8)
    assert signed[6] == (1 << 39) + 5
    assert signed[7] == 30
    assert signed[8] == 1 | (7 << 8)
    assert signed[9] == 0x1234
    assert signed[10] == -5
    assert signed[11] == 1000
    assert signed[12] == -2
    assert signed[13] == 9
    assert signed[14] == 0x7F00FF00
    assert signed[15] == -5


@pytest.mark.root
def test_typed_keys_and_values_round_trip_through_the_kernel(zoo):
    zoo.load()
    Color = zoo.btf.enum_class("zoo_color")
    by_name = zoo.maps["by_name"]
    by_name["red"] = Color.ZOO_RED
    by_name[b"blue"] = 7
    by_name["green"] = "ZOO_GREEN"
    assert by_name["blue"] is Color.ZOO_BLUE
    assert by_name[b"green"] is Color.ZOO_GREEN
    assert sorted(by_name) == [b"blue", b"green", b"red"]
    with pytest.raises(ValueError, match="by_name"):
        by_name["more than eight"] = 1
    by_packed = zoo.maps["by_packed"]
    by_packed[(1, -2, 3)] = {"halves": {"lo": 1, "hi": 2}}
    Packed = zoo.btf.ctypes_type("zoo_packed")
    value = by_packed[Packed(a=1, b=-2, c=3)]
    assert value.as_int == (2 << 16) | 1
    assert list(by_packed.keys()) == [Packed(1, -2, 3)]
    with pytest.raises(TypeError, match="by_packed"):
        by_packed[1.5] = {}


def test_format_value_prints_through_libbpf(zoo):
    btf = zoo.btf
    Zoo = btf.ctypes_type("zoo")
    text = btf.format_value("zoo", bytes(Zoo(i=-123456, name="hey", bf2=-9)))
    assert text.startswith("(struct zoo){")
    assert ".i = (int)-123456," in text
    assert "'h'," in text and "'y'," in text
    compact = btf.format_value("zoo_inner", bytes(btf.ctypes_type("zoo_inner")(c=1, q=2)),
                               compact=True)
    assert compact == "(struct zoo_inner){.c = (char)1,.q = (long long)2,}"
    with pytest.raises(ValueError, match="272 bytes"):
        btf.format_value("zoo", b"short")


def test_c_declarations_of_one_type(zoo):
    text = zoo.btf.to_c(["zoo_packed"])
    assert "struct zoo_packed {" in text and "__attribute__((packed))" in text
    assert "#ifndef __VMLINUX_H__" not in text


@pytest.mark.root
def test_btf_of_loaded_object_by_id(zoo):
    zoo.load()
    btf_id = zoo.maps["zoo_map"].info().btf_id
    assert btf_id > 0
    with BTF.from_id(btf_id) as kbtf:
        assert kbtf.type("zoo").size == 272
        check_layout(kbtf, kbtf.ctypes_type("zoo"), kbtf.type("zoo"))


def test_split_btf_on_top_of_vmlinux(tmp_path):
    """Split BTF (what kernel modules have): ids and strings continue the base's."""
    from libbpfpy._raw import check_int, check_ptr, lib
    with BTF.vmlinux() as base:
        int_id = base.type_id("int", Kind.INT)
        sp = check_ptr(lib.btf__new_empty_split(base._ptr), "btf__new_empty_split")
        try:
            sid = check_int(lib.btf__add_struct(sp, b"split_thing_xyz", 16), "add_struct")
            check_int(lib.btf__add_field(sp, b"pid", int_id, 0, 0), "add_field")  # base string
            check_int(lib.btf__add_field(sp, b"only_in_split_q", int_id, 64, 0), "add_field")
            size = ctypes.c_uint32()
            raw = ctypes.string_at(lib.btf__raw_data(sp, ctypes.byref(size)), size.value)
        finally:
            lib.btf__free(sp)
        path = tmp_path / "split.btf"
        path.write_bytes(raw)
        with BTF.from_file(path, base=base) as split:
            assert split.start_id == len(base) + 1 == sid
            assert len(split) == len(base) + 1
            t = split.type("split_thing_xyz")
            assert t.id == sid and [m.name for m in t.members] == ["pid", "only_in_split_q"]
            assert split[int_id].name == "int"          # a base type, through the split
            assert [x.id for x in split] == [sid]       # iteration: this BTF's own types
            cls = split.ctypes_type(sid)
            assert ctypes.sizeof(cls) == 16 and cls.only_in_split_q.offset == 8
            assert cls(pid=-1, only_in_split_q=2).pid == -1
