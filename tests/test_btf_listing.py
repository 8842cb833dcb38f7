"""BTF raw listings (``BTF.dump_raw``, ``describe``): the compiled lister and the
pure-Python one print exactly what ``bpftool btf dump`` prints."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import need
from libbpfpy import _native
from libbpfpy.btf import BTF, Kind


def bpftool_dump(path: str, *extra: str) -> str:
    need(shutil.which("bpftool") is not None, "bpftool not installed")
    return subprocess.run(["bpftool", "btf", "dump", "file", path, *extra], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(params=["compiled", "python"])
def lister(request, monkeypatch):
    """The compiled lister (libbpfpy._accel) or the pure-Python one."""
    if request.param == "compiled":
        need(_native.load() is not None,
             "libbpfpy._accel is not built (setup.py needs gcc and Python headers)")
        monkeypatch.setattr(_native, "ACCEL", _native.load())
    else:
        monkeypatch.setattr(_native, "ACCEL", None)
    return request.param


def test_vmlinux_listing_is_bpftools(lister):
    with BTF.vmlinux() as btf:
        text = btf.dump_raw()
        assert text == bpftool_dump("/sys/kernel/btf/vmlinux")
        task = btf.type_id("task_struct")
        one = btf.describe("task_struct")
        assert one.startswith(f"[{task}] STRUCT 'task_struct' size=")
        assert one + "\n" == btf.dump_raw([task])
        assert btf.describe(0) == "[0] UNKN 'void'"


def test_object_listings_are_bpftools(lister, bpf_object_path):
    """Objects' BTF has the kinds vmlinux lacks (VAR, DATASEC, DECL_TAG, ...)."""
    seen: set[Kind] = set()
    for name in ("btf_zoo", "globals", "hello", "map_bulk", "ringbuf"):
        path = bpf_object_path(name)
        with BTF.from_file(path) as btf:
            assert btf.dump_raw() == bpftool_dump(path)
            seen |= {t.kind for t in btf}
            ids = [t.id for t in btf][::3]
            assert btf.dump_raw(ids) == "".join(btf.describe(i) + "\n" for i in ids)
    assert {Kind.DATASEC, Kind.VAR, Kind.ENUM, Kind.FUNC_PROTO, Kind.STRUCT} <= seen


def test_listing_of_split_btf_names_base_types(lister, tmp_path):
    """A module-style split BTF: its own types listed, base types looked up."""
    from libbpfpy._raw import check_ptr, lib
    with BTF.vmlinux() as base:
        sp = check_ptr(lib.btf__new_empty_split(base._ptr), "btf__new_empty_split")
        try:
            int_id = base.type_id("int")
            var = lib.btf__add_var(sp, b"counter", 1, int_id)
            sec = lib.btf__add_datasec(sp, b".data.mod", 4)
            assert sec > 0 and var > 0
            assert lib.btf__add_datasec_var_info(sp, var, 0, 4) == 0
            import ctypes
            size = ctypes.c_uint32()
            raw = ctypes.string_at(lib.btf__raw_data(sp, ctypes.byref(size)), size.value)
        finally:
            lib.btf__free(sp)
        path = tmp_path / "mod.btf"
        path.write_bytes(raw)
        with BTF.from_file(path, base=base) as split:
            text = split.dump_raw()
            assert text == bpftool_dump(str(path), "-B", "/sys/kernel/btf/vmlinux")
            assert "(VAR 'counter')" in text
            assert split.describe(int_id) == base.describe(int_id)
