"""Python types from BTF are built on first use: IntEnum classes of enum members are
made when a member's value is first read as an enum, the same class for every
record using that enum, and still after the BTF is closed."""
from __future__ import annotations

from libbpfpy.btf import BTF


def test_member_enums_are_made_on_first_use(bpf_object_path):
    btf = BTF.from_file(bpf_object_path("btf_zoo"))
    zoo = btf.ctypes_type("zoo")
    builder = btf._types_builder()
    color_id = btf.type_id("enum zoo_color")
    assert color_id not in builder._enums          # not made with the record
    enums = zoo._btf_enums_
    assert set(enums) >= {"color", "sgn", "small", "color_bits"}
    btf.close()
    color = enums["color"]                          # made now, BTF closed
    assert [(m.name, int(m)) for m in color] == [("ZOO_RED", 0), ("ZOO_GREEN", 1),
                                                 ("ZOO_BLUE", 7)]
    assert enums["color_bits"] is color             # one class per enum type
    z = zoo(color=7, sgn=-5, color_bits=1)
    d = z.to_dict()
    assert d["color"] is color.ZOO_BLUE and d["color_bits"] is color.ZOO_GREEN
    assert d["sgn"].name == "ZOO_NEG"


def test_enum_class_asked_for_is_the_members_class(bpf_object_path):
    with BTF.from_file(bpf_object_path("btf_zoo")) as btf:
        zoo = btf.ctypes_type("zoo")
        direct = btf.enum_class("zoo_color")
        assert zoo._btf_enums_["color"] is direct
