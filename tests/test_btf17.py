"""BTF features of libbpf >= 1.4: split BTF from bytes, distilling a split BTF's base
and relocating it onto the full base, permuting type ids, type and declaration
attributes -- checked against the types as they were built (each description
compared), and refused by name with an older libbpf."""
from __future__ import annotations

import pytest

from libbpfpy import BTF, BPFError, NotSupportedError
from libbpfpy import _raw as raw
from libbpfpy.btf import Encoding, Kind


def needs(function: str) -> bool:
    """Whether the loaded libbpf has ``function`` (if not, each test checks the
    refusal an older libbpf gives instead)."""
    return raw.is_available(function)


def refusal(function: str):
    return pytest.raises(NotSupportedError, match=rf"{function}\(\) needs libbpf >= "
                         rf"{raw._since(function)}, this is {raw.version} ")


@pytest.fixture
def vmlinux():
    with BTF.vmlinux() as btf:
        yield btf


def module_like(vmlinux: BTF) -> BTF:
    """A split BTF on top of the kernel's, as a module's is: its own int, pointers to
    kernel structs, and a struct using them."""
    split = BTF.new_empty(base=vmlinux, name="module-like")
    i = split.add_int("int", 4, Encoding.SIGNED)
    lh = split.add_ptr(vmlinux.type_id("list_head", Kind.STRUCT))
    task = split.add_ptr(vmlinux.type_id("task_struct", Kind.STRUCT))
    split.add_struct("lbpy_dev", 24, [("refs", i, 0), ("node", lh, 64), ("owner", task, 128)])
    split.add_typedef("lbpy_dev_t", split.type_id("lbpy_dev", Kind.STRUCT))
    return split


def descriptions(btf: BTF) -> list[str]:
    return [btf.describe(t) for t in btf]


def test_split_btf_from_bytes(vmlinux):
    split = module_like(vmlinux)
    data = split.raw_data()
    if not needs("btf__new_split"):
        with split, refusal("btf__new_split"):
            BTF.new_split(data, vmlinux)
        return
    again = BTF.new_split(data, vmlinux)
    assert again.start_id == split.start_id == len(vmlinux) + 1
    assert descriptions(again) == descriptions(split)
    owner = again.type("lbpy_dev").members[2]
    assert again.type_name(owner.type_id) == "struct task_struct *"
    vmlinux.close()                                  # the base goes: its splits go first
    assert again.closed and split.closed


def test_distill_then_relocate_onto_the_full_base(vmlinux):
    split = module_like(vmlinux)
    if not needs("btf__distill_base"):
        with split, refusal("btf__distill_base"):
            split.distill_base()
        return
    base, distilled = split.distill_base()
    with base:
        # the distilled base holds only what the split references: two structs
        assert sorted(t.name for t in base) == ["list_head", "task_struct"]
        assert all(t.kind in (Kind.STRUCT, Kind.FWD) for t in base)
        assert distilled.start_id == len(base) + 1
        assert [t.name for t in distilled] == [t.name for t in split]
        descriptions(distilled)                      # (reading it first must not matter)
        distilled.relocate(vmlinux)
    assert not distilled.closed                      # it no longer depends on that base
    # relocated: the same types, numbered after the kernel's, pointing at its structs
    assert distilled.start_id == split.start_id
    assert descriptions(distilled) == descriptions(split)
    with pytest.raises(BPFError, match="not split BTF"):
        vmlinux.distill_base()
    distilled.close()
    split.close()


@pytest.fixture
def btf():
    with BTF.new_empty() as b:
        yield b


def test_permute_renumbers_and_keeps_references(btf):
    i = btf.add_int("int", 4, Encoding.SIGNED)
    p = btf.add_ptr(i)
    s = btf.add_struct("pair", 16, [("value", i, 0), ("next", p, 64)])
    t = btf.add_typedef("pair_t", s)
    if not needs("btf__permute"):
        with refusal("btf__permute"):
            btf.permute({i: t, p: s, s: p, t: i})
        return
    with pytest.raises(ValueError, match="permutation"):
        btf.permute({i: i, p: p})                    # not all of them
    btf.permute({i: t, p: s, s: p, t: i})             # reverse the order
    assert [x.kind for x in btf] == [Kind.TYPEDEF, Kind.STRUCT, Kind.PTR, Kind.INT]
    pair = btf.type("pair", Kind.STRUCT)
    assert pair.id == p and btf.type("pair_t").type_id == pair.id
    assert [btf.type_name(m.type_id) for m in pair.members] == ["int", "int *"]
    assert btf[pair.members[1].type_id].type_id == btf.type_id("int", Kind.INT) == t


def test_type_and_decl_attributes(btf):
    i = btf.add_int("int", 4, Encoding.SIGNED)
    s = btf.add_struct("tagged", 4, [("x", i, 0)])
    tag = btf.add_type_tag("user", i)
    if not needs("btf__add_type_attr"):
        with refusal("btf__add_type_attr"):
            btf.add_type_attr("aligned(8)", i)
        with refusal("btf__add_decl_attr"):
            btf.add_decl_attr("packed", s)
        return
    attr = btf.add_type_attr("aligned(8)", i)
    decl = btf.add_decl_attr("packed", s)
    member_decl = btf.add_decl_attr("deprecated", s, 0)
    plain = btf.add_decl_tag("kernel_tag", s)
    # attributes are tags with kflag set; plain tags have it clear
    assert (btf[tag].kind, btf[tag].kflag, btf[tag].name) == (Kind.TYPE_TAG, False, "user")
    assert (btf[attr].kind, btf[attr].kflag, btf[attr].name, btf[attr].type_id) == \
        (Kind.TYPE_TAG, True, "aligned(8)", i)
    assert (btf[decl].kind, btf[decl].kflag, btf[decl].component_idx) == \
        (Kind.DECL_TAG, True, -1)
    assert (btf[member_decl].component_idx, btf[member_decl].name) == (0, "deprecated")
    assert (btf[plain].kflag, btf[plain].type_id) == (False, s)
    # the same bytes read back by libbpf from our raw data
    with BTF.from_bytes(btf.raw_data()) as copy:
        assert [(x.kind, x.kflag, x.name) for x in copy] == \
            [(x.kind, x.kflag, x.name) for x in btf]


def test_object_btf_is_not_writable(bpf_object_path):
    from libbpfpy import Object
    with Object.open(bpf_object_path("streams")) as obj:
        with pytest.raises(BPFError, match="belongs to an object"):
            obj.btf.add_int("x", 4)
