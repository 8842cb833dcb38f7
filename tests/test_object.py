"""Object: open from a path or bytes with every option, load, attach, pin, close,
and the errors of malformed objects and failed loads."""
from __future__ import annotations

import errno
import logging
import os
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from libbpfpy import (
    BPFError,
    ClosedError,
    FormatError,
    MapHandle,
    NotSupportedError,
    Object,
    PermissionDeniedError,
    Program,
    VerifierError,
    fs,
    probe,
)
from libbpfpy import _raw as raw

ROOT = Path(__file__).resolve().parents[1]

REPORT = struct.Struct("qQQ")


def report(obj: Object) -> tuple[int, int, int]:
    """Run the object's `report` syscall program: (CONFIG_LIBBPFPY_TEST,
    LINUX_KERNEL_VERSION, pinned_counts[0] before it added one)."""
    res = obj.programs["report"].test_run(ctx=bytes(REPORT.size))
    assert res.retval == 0
    return REPORT.unpack(res.ctx)  # type: ignore[return-value]


def kernel_version_code() -> int:
    """KERNEL_VERSION(major, minor, patch) of the running kernel, by libbpf's rules
    (written out here rather than taken from probe.kernel_version, which it checks):
    Ubuntu's /proc/version_signature, then (libbpf >= 1.2) "Debian X.Y.Z" in uname -v,
    then the leading numbers of uname -r."""
    import re

    from libbpfpy._raw import version as libbpf_version
    text = ""
    if os.path.exists("/proc/version_signature"):
        with open("/proc/version_signature") as f:
            text = " ".join(f.read().split()[2:3])
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    if not found and tuple(map(int, libbpf_version.split(".")[:2])) >= (1, 2):
        found = re.search(r"Debian (\d+)\.(\d+)\.(\d+)", os.uname().version)
    if not found:
        found = re.match(r"(\d+)\.(\d+)\.(\d+)", os.uname().release)
    if not found:
        return 0
    major, minor, patch = (int(x) for x in found.groups())
    return (major << 16) + (minor << 8) + min(patch, 255)


def test_kernel_version_is_read_like_libbpf():
    # Releases seen on our machines and in the kernel matrix's guests.
    assert probe.kernel_version("6.12.95+deb12-amd64", "#1 SMP PREEMPT_DYNAMIC") == (6, 12, 95)
    assert probe.kernel_version("6.18.44-fc-v1147", "#1 SMP") == (6, 18, 44)
    assert probe.kernel_version("6.18-rc1", "#1 SMP") is None
    debian = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-01-01)"
    assert probe.kernel_version("6.1.0-50-amd64", debian, "1.1") == (6, 1, 0)
    assert probe.kernel_version("6.1.0-50-amd64", debian, "1.7") == (6, 1, 176)
    assert probe.kernel_version("7.2.13+deb14-amd64", "#1 SMP Debian 7.2.13-1", "1.7") \
        == (7, 2, 13)


@pytest.fixture
def pin_dir():
    """A fresh directory on bpffs, removed with whatever is left in it."""
    fs.mount_bpffs()
    path = os.path.join(fs.BPFFS, f"libbpfpy-test-{uuid.uuid4().hex[:12]}")
    os.mkdir(path)
    yield path
    for root, dirs, files in os.walk(path, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for d in dirs:
            os.rmdir(os.path.join(root, d))
    os.rmdir(path)


# -- opening, without privileges needed --------------------------------------------------

def test_open_from_path_lists_programs_and_maps_in_object_order(bpf_object_path):
    with Object.open(bpf_object_path("core_obj")) as obj:
        assert obj.name == "core_obj"
        assert not obj.loaded
        assert list(obj.programs) == ["report", "on_getppid", "no_target_xdp",
                                      "no_target_uprobe", "on_sys_exit"]
        assert [p.section for p in obj.programs.values()] == [
            "syscall", "tracepoint/syscalls/sys_enter_getppid", "xdp", "uprobe",
            "raw_tp/sys_exit"]
        # libbpf's own order, which is the ELF's
        names = []
        m = raw.lib.bpf_object__next_map(obj._ptr, None)
        while m:
            names.append(raw.lib.bpf_map__name(m).decode())
            m = raw.lib.bpf_object__next_map(obj._ptr, m)
        assert list(obj.maps) == names
        assert names[:2] == ["pinned_counts", "scratch"]
        assert obj.maps["core_ob.kconfig"].is_internal
        assert all(isinstance(p, Program) for p in obj.programs.values())
        with pytest.raises(KeyError, match="has no program 'nope' \\(it has: report"):
            obj.programs["nope"]
        with pytest.raises(TypeError):
            obj.programs["report"] = None  # type: ignore[index]
        assert "report" in repr(obj.programs)


def test_open_from_bytes_bytearray_and_memoryview(bpf_object_path):
    data = open(bpf_object_path("core_obj"), "rb").read()
    for blob in (data, bytearray(data), memoryview(data)):
        with Object.open(blob, name="from_memory") as obj:
            assert obj.name == "from_memory"
            assert list(obj.programs)[0] == "report"
    with Object.open(data) as obj:  # libbpf names an unnamed buffer itself
        assert obj.name


def test_open_name_option_for_a_path(bpf_object_path):
    with Object.open(bpf_object_path("core_obj"), name="renamed") as obj:
        assert obj.name == "renamed"


def test_kversion_from_the_version_section(bpf_object_path):
    with Object.open(bpf_object_path("core_obj")) as obj:
        assert obj.kversion == 0x050A07


def test_kversion_defaults_to_the_running_kernel(bpf_object_path):
    with Object.open(bpf_object_path("basic")) as obj:
        assert obj.kversion == kernel_version_code()


def test_btf_of_the_object(bpf_object_path):
    with Object.open(bpf_object_path("core_obj")) as obj:
        btf = obj.btf
        assert btf is not None and len(btf) > 10
        assert obj.btf is btf
    assert btf.closed


def test_repr_states(bpf_object_path):
    obj = Object.open(bpf_object_path("core_obj"))
    assert repr(obj) == "<Object 'core_obj' opened>"
    obj.close()
    assert repr(obj) == "<Object 'core_obj' closed>"


# -- malformed objects --------------------------------------------------------------------

def test_not_found_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        Object.open(tmp_path / "missing.bpf.o")
    assert info.value.errno == errno.ENOENT
    assert "missing.bpf.o" in str(info.value)


@pytest.mark.parametrize("content, what", [
    (b"", "empty"),
    (b"this is not an ELF file at all" * 10, "garbage"),
    (b"\x7fELF\x02\x01\x01" + b"\0" * 9, "header only"),
], ids=["empty", "garbage", "header-only"])
def test_malformed_bytes_and_files(tmp_path, content, what):
    with pytest.raises(FormatError) as info:   # refused before libbpf reads it
        Object.open(content, name=what)
    msg = str(info.value)
    assert msg.startswith(f"malformed {what}: ") and "ELF" in msg
    assert info.value.errno == errno.EINVAL
    path = tmp_path / f"{what.replace(' ', '_')}.o"
    path.write_bytes(content)
    with pytest.raises(BPFError) as info:
        Object.open(path)
    assert str(path) in str(info.value)


def test_truncated_object(bpf_object_path, tmp_path):
    data = open(bpf_object_path("core_obj"), "rb").read()
    for cut in (64, len(data) // 2, len(data) - 100):
        with pytest.raises(BPFError) as info:
            Object.open(data[:cut], name=f"cut{cut}")
        assert f"cut{cut}" in str(info.value)


def test_directory_is_not_an_object(tmp_path):
    with pytest.raises(BPFError):
        Object.open(tmp_path)


def test_non_bpf_elf_is_refused():
    with pytest.raises(BPFError) as info:
        Object.open(sys.executable)
    assert sys.executable in str(info.value)


def test_wrong_source_type():
    with pytest.raises(TypeError):
        Object.open(12345)  # type: ignore[arg-type]


# -- load and options ------------------------------------------------------------------------

@pytest.mark.root
def test_load_resolves_kconfig_option(bpf_object_path):
    with Object.open(bpf_object_path("core_obj"), kconfig="CONFIG_LIBBPFPY_TEST=42") as obj:
        assert obj.load() is obj
        assert obj.loaded
        kc, kv, _ = report(obj)
        assert kc == 42
        assert kv == kernel_version_code()
    with Object.open(bpf_object_path("core_obj")) as obj:
        obj.load()
        assert report(obj)[0] == 0  # __weak extern without a value


@pytest.mark.root
def test_btf_custom_path_option(bpf_object_path, tmp_path):
    with Object.open(bpf_object_path("core_trace"),
                     btf_custom_path="/sys/kernel/btf/vmlinux") as obj:
        obj.load()  # CO-RE relocated against the given file
        assert obj.programs["btf_sys_enter"].loaded
    bogus = tmp_path / "bogus.btf"
    bogus.write_bytes(b"not btf at all")
    # checked when opening, before libbpf ever reads it
    with pytest.raises(FormatError) as info:
        Object.open(bpf_object_path("core_trace"), btf_custom_path=bogus)
    assert str(bogus) in str(info.value) and "BTF header" in str(info.value)


@pytest.mark.root
def test_pin_root_path_pins_by_name_and_survives_close(bpf_object_path, pin_dir):
    pinned = os.path.join(pin_dir, "pinned_counts")
    with Object.open(bpf_object_path("core_obj"), pin_root_path=pin_dir) as obj:
        m = obj.maps["pinned_counts"]
        assert m.pin_path == pinned
        obj.load()
        assert m.is_pinned and os.path.exists(pinned)
        assert report(obj)[2] == 0
        assert report(obj)[2] == 1
        m[3] = 777  # from Python
    assert os.path.exists(pinned)
    with MapHandle.from_pin(pinned) as h:
        assert h[0] == 2 and h[3] == 777
    # a second open reuses the pinned map: BPF sees what the first one left
    with Object.open(bpf_object_path("core_obj"), pin_root_path=pin_dir) as obj:
        obj.load()
        assert report(obj)[2] == 2
        assert obj.maps["pinned_counts"][3] == 777
        obj.maps["pinned_counts"].unpin()
    assert not os.path.exists(pinned)


@pytest.mark.root
def test_kernel_log_level_option(bpf_object_path, caplog):
    caplog.set_level(logging.DEBUG, logger="libbpfpy.libbpf")
    with Object.open(bpf_object_path("basic"), kernel_log_level=1) as obj:
        obj.load()
    logs = [r.getMessage() for r in caplog.records if "BEGIN PROG LOAD LOG" in r.getMessage()]
    assert logs and any("processed" in text for text in logs)
    caplog.clear()
    with Object.open(bpf_object_path("basic")) as obj:
        obj.load()
    assert not [r for r in caplog.records if "BEGIN PROG LOAD LOG" in r.getMessage()]


@pytest.mark.root
def test_load_twice_is_a_clear_error(bpf_object_path):
    with Object.open(bpf_object_path("basic")) as obj:
        obj.load()
        with pytest.raises(BPFError, match="already loaded") as info:
            obj.load()
        assert info.value.errno == errno.EALREADY


@pytest.mark.root
def test_verifier_error_has_the_full_log(bpf_object_path):
    with Object.open(bpf_object_path("core_bad")) as obj:
        obj.programs["long_then_bad"].autoload = False
        with pytest.raises(VerifierError) as info:
            obj.load()
        err = info.value
        assert err.program == "out_of_bounds"
        assert err.errno == errno.EACCES
        assert "invalid access to map value, value_size=8 off=32 size=8" in err.log
        assert "processed" in err.log           # the full log, stats included
        assert err.log.lstrip().splitlines()[0] != ""
        text = str(err)
        assert "out_of_bounds" in text and "invalid access to map value" in text
        assert "processed " not in text         # str() is the tail, without stats
        assert obj.programs["out_of_bounds"].log == err.log
        assert not obj.loaded
        with pytest.raises(BPFError, match="open it again"):
            obj.load()


@pytest.mark.root
def test_verifier_error_with_a_user_log_level(bpf_object_path):
    with Object.open(bpf_object_path("core_bad")) as obj:
        obj.programs["long_then_bad"].autoload = False
        prog = obj.programs["out_of_bounds"]
        prog.log_level = 1
        with pytest.raises(VerifierError) as info:
            obj.load()
        assert "invalid access to map value" in info.value.log
        assert info.value.log == prog.log


@pytest.mark.root
def test_good_program_of_a_bad_object_is_not_left_loaded(bpf_object_path):
    with Object.open(bpf_object_path("core_bad")) as obj:
        with pytest.raises(VerifierError):
            obj.load()
        assert not obj.programs["good"].loaded


# -- attach ------------------------------------------------------------------------------------

@pytest.mark.root
def test_attach_skips_sections_without_a_target(bpf_object_path, pin_dir):
    with Object.open(bpf_object_path("core_obj"), pin_root_path=pin_dir) as obj:
        obj.load()
        links = obj.attach()
        attached = sorted(link.program.name for link in links if link.program)
        # report (syscall), no_target_xdp and no_target_uprobe have no target
        assert attached == ["on_getppid", "on_sys_exit"]
        before = obj.maps["pinned_counts"][1]
        subprocess.run([sys.executable, "-c", "import os; [os.getppid() for _ in range(5)]"],
                       check=True)
        assert obj.maps["pinned_counts"][1] - before >= 5
        for link in links:
            link.destroy()
        obj.maps["pinned_counts"].unpin()


@pytest.mark.root
def test_attach_respects_autoattach_and_autoload(bpf_object_path, pin_dir):
    with Object.open(bpf_object_path("core_obj"), pin_root_path=pin_dir) as obj:
        obj.programs["on_sys_exit"].autoattach = False
        obj.programs["on_getppid"].autoload = False
        obj.load()
        assert obj.attach() == []
        assert not obj.programs["on_getppid"].loaded
        obj.maps["pinned_counts"].unpin()


@pytest.mark.root
def test_attach_before_load_is_an_error(bpf_object_path):
    with Object.open(bpf_object_path("core_obj")) as obj:
        with pytest.raises(BPFError, match="not loaded"):
            obj.attach()


@pytest.mark.root
def test_attach_failure_closes_links_already_made(bpf_object_path):
    # kprobe sections auto-attach on a kernel with kprobes only: on this one the
    # object's tracepoint link, made first, must not stay behind.
    from libbpfpy import probe
    with Object.open(bpf_object_path("core_unsup")) as obj:
        for p in obj.programs.values():
            p.autoload = p.name in ("tp_first", "kp_nanosleep")
        obj.load()
        if probe.kprobes():
            links = obj.attach()
            assert len(links) == 2
            for link in links:
                link.destroy()
            return
        with pytest.raises(NotSupportedError, match="CONFIG_KPROBES"):
            obj.attach()
        assert obj.programs["tp_first"].links == []
        assert obj.programs["kp_nanosleep"].links == []


# -- pinning ------------------------------------------------------------------------------------

@pytest.mark.root
def test_pin_and_unpin_maps_and_programs(bpf_object_path, pin_dir):
    with Object.open(bpf_object_path("basic")) as obj:
        obj.load()
        obj.maps["elems"][5] = 55
        obj.pin_maps(pin_dir)
        assert "elems" in os.listdir(pin_dir)
        progdir = os.path.join(pin_dir, "progs")
        obj.pin_programs(progdir)
        assert sorted(os.listdir(progdir)) == ["count_first", "count_second"]
        with MapHandle.from_pin(os.path.join(pin_dir, "elems")) as h:
            assert h[5] == 55
        obj.unpin_programs(progdir)
        assert os.listdir(progdir) == []
        os.rmdir(progdir)
        obj.unpin_maps(pin_dir)
        assert "elems" not in os.listdir(pin_dir)


@pytest.mark.root
def test_pin_maps_outside_bpffs_says_how_to_fix(bpf_object_path, tmp_path):
    with Object.open(bpf_object_path("basic")) as obj:
        obj.load()
        with pytest.raises(BPFError) as info:
            obj.maps["elems"].pin(tmp_path / "elems")
        assert "not on a BPF filesystem" in str(info.value)


# -- closing ------------------------------------------------------------------------------------

@pytest.mark.root
def test_close_closes_everything_made_from_it(bpf_object_path):
    obj = Object.open(bpf_object_path("core_obj"))
    obj.load()
    links = obj.attach()
    prog = obj.programs["on_getppid"]
    m = obj.maps["scratch"]
    obj.close()
    obj.close()  # idempotent
    assert obj.closed and all(link.closed for link in links)
    for call in (lambda: obj.programs, lambda: obj.maps, obj.load, obj.attach,
                 lambda: obj.kversion, lambda: obj.pin_maps("/sys/fs/bpf/x"),
                 lambda: prog.fd, lambda: prog.section, lambda: m.fd, lambda: m[1],
                 lambda: links[0].fd, lambda: obj.btf):
        with pytest.raises(ClosedError):
            call()
    with pytest.raises(ClosedError, match="object 'core_obj'"):
        obj.load()
    with pytest.raises(ValueError):  # ClosedError is a ValueError, as for files
        obj.load()


def test_with_closes(bpf_object_path):
    with Object.open(bpf_object_path("core_obj")) as obj:
        pass
    assert obj.closed
    with pytest.raises(ClosedError):
        with obj:
            pass


def test_privilege_error_in_unprivileged_child(bpf_object_path):
    from conftest import run_unprivileged
    path = bpf_object_path("basic")
    code = f"""
import sys
from libbpfpy import Object, PermissionDeniedError
with Object.open({path!r}) as obj:
    try:
        obj.load()
    except PermissionDeniedError as exc:
        print("PERM", exc.errno, exc)
        sys.exit(0)
print("loaded?!")
sys.exit(1)
"""
    res = run_unprivileged(code)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("PERM 1 ")
    assert "CAP_BPF" in res.stdout
    assert PermissionDeniedError.__mro__[1] is BPFError



@pytest.mark.root
@pytest.mark.parametrize("fixture,target", [("iter_task", "task"),
                                            ("iter_map_elem", "bpf_map_elem")])
def test_iterator_probe_agrees_with_a_real_load(bpf_object_path, fixture, target):
    # The probe's answer per target is what a real object of that target gets; a
    # refusal as root is reported as the kernel's policy, naming the section.
    feature = probe.iterator(target)
    with Object.open(bpf_object_path(fixture)) as obj:
        if feature:
            obj.load()
            assert obj.loaded
            return
        with pytest.raises(NotSupportedError) as info:
            obj.load()
    assert f"iter/{target}" in str(info.value)
    assert "ulimit" not in str(info.value)
    if "EPERM" in feature.reason:
        assert "refuses" in str(info.value) and info.value.errno == errno.EPERM


# -- __kconfig externs and the kernel's configuration ---------------------------------------

def _kernel_config() -> dict[str, str]:
    """The running kernel's configuration, read the way libbpf looks for it."""
    import gzip
    path = f"/boot/config-{os.uname().release}"
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line
                and not line.startswith("#"))


def _report_kconfig(obj: Object) -> tuple[int, int]:
    res = obj.programs["report"].test_run(ctx=bytes(16))
    return struct.unpack("qq", res.ctx)  # type: ignore[return-value]


@pytest.mark.root
def test_kconfig_externs_get_the_running_kernels_values(bpf_object_path):
    from libbpfpy.object import kernel_config_source
    if kernel_config_source() is None:
        pytest.fail("this machine has neither /boot/config-<release> nor /proc/config.gz "
                    "(the VM runner provides the first)")
    with Object.open(bpf_object_path("kconfig")) as obj:
        obj.load()
        assert _report_kconfig(obj) == (int(_kernel_config()["CONFIG_HZ"]), 0)
    with Object.open(bpf_object_path("kconfig"), kconfig="CONFIG_HZ=123") as obj:
        obj.load()
        assert _report_kconfig(obj) == (123, 0)


@pytest.mark.root
def test_missing_kernel_config_is_a_clear_error(bpf_object_path):
    # A child in its own mount namespace where libbpf finds no configuration: the
    # error names the extern, where libbpf looked and what to do; kconfig= still works.
    from conftest import mountns_feature, skip_unless
    skip_unless(mountns_feature())
    path = bpf_object_path("kconfig")
    code = f"""
import struct
from libbpfpy import BPFError, Object
try:
    with Object.open({path!r}) as obj:
        obj.load()
    print("loaded?!")
except BPFError as exc:
    print("ERROR", exc)
# every extern given (libbpf reads the system's file while any is left, weak or not)
with Object.open({path!r}, kconfig="CONFIG_HZ=321\\nCONFIG_LIBBPFPY_NEVER_SET=n") as obj:
    obj.load()
    print("HZ", struct.unpack("qq", obj.programs["report"].test_run(ctx=bytes(16)).ctx)[0])
"""
    # libbpf says "not resolved" for an empty config and "failed to open" for none:
    # /boot hidden, and where /proc/config.gz exists, an empty file over it.
    script = ("mount -t tmpfs none /boot && "
              "{ [ ! -e /proc/config.gz ] || mount --bind /dev/null /proc/config.gz; } && "
              f"exec {sys.executable} -c \"$0\"")
    res = subprocess.run(["unshare", "--mount", "sh", "-c", script, code], text=True,
                         capture_output=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()
    assert first.startswith("ERROR cannot load object 'kconfig': its __kconfig extern"), first
    assert "CONFIG_HZ" in first
    assert f"/boot/config-{os.uname().release} or /proc/config.gz" in first
    assert 'kconfig="CONFIG_HZ=..."' in first
    assert second == "HZ 321"
