"""Messages that say what is wrong (issue 12, "Wrong or vague messages").

Cases that need an unprivileged caller run in a child with every capability dropped
(uid 0 without CAP_DAC_OVERRIDE is held to file modes like anyone else)."""
from __future__ import annotations

import os
import textwrap

import pytest

from conftest import child_ok, run_unprivileged
from libbpfpy import BTF, BPFError, MapHandle, Object
from libbpfpy.link import Link


def test_tracefs_out_of_reach_is_not_called_unmounted(tmp_path):
    tracefs = tmp_path / "tracing"
    (tracefs / "events").mkdir(parents=True)
    os.chown(tracefs, 65534, 65534)
    tracefs.chmod(0o700)
    proc = run_unprivileged(textwrap.dedent(f"""
        from libbpfpy import fs, probe, PermissionDeniedError
        fs.TRACEFS, fs.DEBUGFS_TRACING = {str(tracefs)!r}, {str(tmp_path / "none")!r}
        real = fs._fs_magic
        fs._fs_magic = lambda p: fs._TRACEFS_MAGIC if p == fs.TRACEFS else real(p)
        try:
            fs.require_tracefs("attaching program 'p' to tracepoint a:b")
        except PermissionDeniedError as exc:
            text = str(exc)
            assert "not accessible to this user" in text and "not mounted" not in text, text
            assert "mode 700" in text, text
        else:
            raise AssertionError("no error")
        feature = probe.tracefs()
        assert not feature and "not accessible to this user" in feature.reason, feature
    """))
    assert proc.returncode == 0, child_ok(proc)


@pytest.mark.root
@pytest.mark.parametrize("attr, value, why", [
    ("max_entries", 0, "max_entries is 0"),
    ("value_size", 1 << 30, "larger than the kernel allows"),
])
def test_map_creation_failure_names_the_map_and_attribute(bpf_object_path, attr, value, why):
    with Object.open(bpf_object_path("core_maps")) as obj:
        setattr(obj.maps["hash"], attr, value)
        with pytest.raises(BPFError) as info:
            obj.load()
    text = str(info.value)
    assert "map 'hash'" in text and f"{attr}={value}" in text and why in text, text
    assert info.value.call == "bpf_map_create" and info.value.target == "hash"


@pytest.mark.root
def test_map_operations_say_what_they_mean_for_the_map_type(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as obj:
        obj.load()
        with pytest.raises(TypeError, match="push\\(\\) is for queue, stack and bloom"):
            obj.maps["hash"].push(1)                    # was: "Bad address"
        with pytest.raises(BPFError, match="cannot be deleted: every index always "
                                           "exists"):
            del obj.maps["array"][0]                    # was: "Invalid argument"
        with pytest.raises(TypeError, match="peek\\(\\) is for queue and stack"):
            obj.maps["hash"].peek()
        with pytest.raises(TypeError, match="pop\\(\\) without a key"):
            obj.maps["bloom"].pop()


@pytest.mark.root
def test_link_open_refuses_a_pinned_map(bpf_object_path, tmp_path):
    from libbpfpy import fs
    fs.mount_bpffs()
    pin = f"{fs.BPFFS}/libbpfpy-msg-{os.getpid()}"
    with MapHandle.create("array", 4, 4, 1) as m:
        m.pin(pin)
        try:
            with pytest.raises(BPFError, match="is a pinned BPF map, not a link"):
                Link.open(pin)                            # was: a "link" with garbage info
        finally:
            m.unpin()


def test_btf_type_with_an_empty_name_is_a_key_error(bpf_object_path):
    with BTF.from_file(bpf_object_path("btf_zoo")) as btf:
        for name in ("", "   "):
            with pytest.raises(KeyError, match="not a type name"):
                btf.type(name)
        assert btf.find("") is None


def test_unwritable_cache_dir_says_which_and_how_to_choose_another(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)           # root's own, not writable (without CAP_DAC_OVERRIDE)
    src = tmp_path / "x.bpf.c"
    src.write_text("int x;\n")
    proc = run_unprivileged(textwrap.dedent(f"""
        import libbpfpy
        from libbpfpy import BPFError
        try:
            libbpfpy.compile({str(src)!r}, cache_path={str(locked / "cache")!r})
        except BPFError as exc:
            text = str(exc)
            assert {str(locked / "cache")!r} in text and "LIBBPFPY_CACHE_DIR" in text, text
            assert "Permission denied" in text, text
        else:
            raise AssertionError("no error")
    """))
    assert proc.returncode == 0, child_ok(proc)
