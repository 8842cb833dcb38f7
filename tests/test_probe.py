"""Feature probes and versions, checked against known facts of this kind of kernel."""
from __future__ import annotations

import pytest

import libbpfpy
from conftest import run_unprivileged
from libbpfpy import MapType, ProgType, probe
from libbpfpy import _raw as raw


def test_feature_is_falsy_with_a_reason():
    f = probe.Feature("x", False, "because")
    assert not f and str(f) == "x: no (because)"
    assert probe.Feature("y", True, "ok") and str(probe.Feature("y", True, "ok")) == "y: yes (ok)"


def test_versions():
    assert libbpfpy.libbpf_version() == probe.libbpf_version() == raw.version
    major, minor = (int(x) for x in raw.version.split("."))
    assert (major, minor) == raw.version_tuple
    version_string = raw.lib.libbpf_version_string().decode()
    assert version_string.startswith(f"v{major}.{minor}")


@pytest.mark.root
def test_prog_types_this_kernel_has():
    for t in ("tracepoint", "raw_tracepoint", "xdp", "sched_cls", "cgroup_skb", "perf_event",
              "syscall", "sk_lookup", "socket_filter", ProgType.KPROBE, int(ProgType.XDP)):
        f = probe.prog_type(t)
        assert f, f
        assert "loaded" in f.reason
    assert probe.prog_type("tracing")  # iterators and tp_btf load here


@pytest.mark.root
def test_map_types():
    for t in ("hash", "array", "percpu_hash", "lru_hash", "queue", "stack", "lpm_trie",
              "bloom_filter", "ringbuf", MapType.HASH_OF_MAPS):
        assert probe.map_type(t), t
    with pytest.raises(ValueError):
        probe.map_type("not_a_map")


@pytest.mark.root
def test_helpers():
    assert probe.helper("tracepoint", "bpf_get_current_pid_tgid")
    assert probe.helper("xdp", "bpf_redirect")
    assert probe.helper(ProgType.XDP, "redirect")  # "bpf_" may be left out
    refused = probe.helper("tracepoint", "bpf_redirect")
    assert not refused and "bpf_redirect" in refused.reason
    assert not probe.helper("xdp", "bpf_sys_bpf")
    assert probe.helper("syscall", "bpf_sys_bpf")
    with pytest.raises(ValueError, match="unknown BPF helper"):
        probe.helper("xdp", "bpf_no_such_helper")


@pytest.mark.root
def test_probes_are_cached():
    probe.clear_cache()
    first = probe.prog_type("xdp")
    assert probe.prog_type("xdp") is first
    assert probe.prog_type.cache_info().hits >= 1
    assert probe.map_type("hash") is probe.map_type("hash")
    assert probe.helper("xdp", "bpf_redirect") is probe.helper("xdp", "bpf_redirect")
    assert probe.kprobes() is probe.kprobes()
    probe.clear_cache()
    assert probe.prog_type.cache_info().currsize == 0


def _attempt(bpf_object_path, fixture: str, attach) -> Exception | None:
    """Load ``fixture`` and run ``attach(obj)`` for real: None when it worked, else the
    error.  What a probe says is checked against this, not against its own code."""
    from libbpfpy import BPFError, Object
    try:
        with Object.open(bpf_object_path(fixture)) as obj:
            obj.load()
            link = attach(obj)
            if link is not None:
                link.destroy()
    except BPFError as exc:
        return exc
    return None


@pytest.mark.root
@pytest.mark.parametrize("name", ["kprobes", "kprobe_multi", "uprobes", "fentry",
                                  "fmod_ret", "lsm", "tp_btf"])
def test_probe_agrees_with_a_real_attach(name, bpf_object_path, c_binary):
    from libbpfpy import NotSupportedError
    attempts = {
        "kprobes": ("kprobe", lambda o: o.programs["kprobe_cookie"].attach_kprobe(
            "hrtimer_nanosleep")),
        "kprobe_multi": ("kprobe_multi", lambda o: o.programs["multi_cookie"]
                         .attach_kprobe_multi(syms=["hrtimer_nanosleep"])),
        "uprobes": ("core_trace", lambda o: o.programs["on_target_any"].attach_uprobe(
            c_binary("core_target"), func_name="libbpfpy_target")),
        "fentry": ("fentry", lambda o: o.programs["fentry_entry"].attach()),
        "fmod_ret": ("fmod_ret", lambda o: o.programs["fake_getsid"].attach()),
        "lsm": ("lsm", lambda o: o.programs["deny_open"].attach()),
        "tp_btf": ("core_trace", lambda o: o.programs["btf_sys_enter"].attach()),
    }
    fixture, attach = attempts[name]
    feature = getattr(probe, name)()
    error = _attempt(bpf_object_path, fixture, attach)
    if feature:
        assert error is None, (str(feature), error)
    else:
        assert isinstance(error, NotSupportedError), (str(feature), error)
        assert feature.reason in str(error), (str(feature), str(error))


@pytest.mark.root
def test_fentry_lsm_probes_say_why():
    for f in (probe.fentry(), probe.lsm()):
        if not f:
            assert "EPERM" in f.reason or "failed" in f.reason or "no kernel BTF" in f.reason
    if not probe.fentry():
        assert not probe.prog_type("ext")
        assert probe.prog_type("ext").reason == probe.fentry().reason


@pytest.mark.root
def test_attach_kinds_summary():
    kinds = {f.name: f for f in probe.attach_kinds()}
    for name in ("tracepoint", "raw_tracepoint", "uprobe", "perf_event", "xdp", "tc",
                 "cgroup", "iter", "tp_btf", "syscall"):
        assert kinds[name], kinds[name]
    assert bool(kinds["kprobe"]) == bool(probe.kprobes())
    assert bool(kinds["fentry"]) == bool(probe.fentry())


def test_probes_without_privileges_say_so():
    res = run_unprivileged(
        "from libbpfpy import probe\n"
        "print(probe.prog_type('xdp'))\n"
        "print(probe.map_type('hash'))\n"
        "print(probe.helper('xdp', 'bpf_redirect'))\n"
        "print(probe.privileges())\n")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert all(": no (" in line for line in lines), lines
    assert "cannot probe without CAP_BPF" in lines[0]
    assert lines[3].startswith("privileges: no")


@pytest.mark.root
def test_privileges_probe_agrees_with_creating_a_map():
    # The oracle is the kernel: creating a map works with the privileges the probe
    # reports, and fails with EPERM in a child whose capabilities are dropped (the
    # unprivileged half is in test_probes_without_privileges_say_so).
    from libbpfpy import MapHandle
    assert probe.privileges()
    with MapHandle.create("array", 4, 4, 1) as m:
        m[0] = 7
        assert m[0] == 7
    res = run_unprivileged(
        "from libbpfpy import MapHandle, PermissionDeniedError, probe\n"
        "try:\n"
        "    MapHandle.create('array', 4, 4, 1)\n"
        "    print('created')\n"
        "except PermissionDeniedError:\n"
        "    print('refused')\n"
        "print(bool(probe.privileges()))\n")
    assert res.stdout.split() == ["refused", "False"], res.stdout + res.stderr


# -- tracefs and bpffs: what a fresh machine lacks ---------------------------------------

def test_missing_tracefs_is_explained(monkeypatch, bpf_object_path):
    from libbpfpy import BPFError, Object, fs
    monkeypatch.setattr(fs, "tracefs_path", lambda: None)
    assert not probe.tracefs() and "mount -t tracefs" in probe.tracefs().reason
    with Object.open(bpf_object_path("core_trace")) as obj:
        with pytest.raises(BPFError) as info:
            obj.programs["tp_getppid"].attach_tracepoint("syscalls", "sys_enter_getppid")
    assert "needs tracefs, which is not mounted" in str(info.value)
    assert "mount -t tracefs tracefs /sys/kernel/tracing" in str(info.value)


@pytest.mark.root
def test_bpffs_mount_and_pin_hint(tmp_path):
    import subprocess

    from libbpfpy import MapHandle, fs
    target = tmp_path / "bpffs"
    assert fs.bpffs_hint(str(target / "x")) is not None  # tmp is not bpffs
    fs._mount("bpf", str(target), "bpf")
    try:
        assert fs.is_mounted(str(target), fs._BPF_FS_MAGIC)
        assert fs.bpffs_hint(str(target / "x")) is None
        with MapHandle.create("array", 4, 4, 1) as m:
            m.pin(target / "m")
            m.unpin()
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert probe.bpffs()  # the system's own mount is untouched


@pytest.mark.root
def test_for_program_picks_the_probe_of_the_attach_kind():
    from libbpfpy import AttachType, ProgType
    # One program type, three answers on this kernel: iterators and tp_btf load
    # where fentry is refused.
    assert probe.for_program(ProgType.TRACING, AttachType.TRACE_ITER) == probe.iterators()
    assert probe.for_program(ProgType.TRACING, AttachType.TRACE_RAW_TP) == probe.tp_btf()
    assert probe.for_program(ProgType.TRACING, AttachType.TRACE_FENTRY) == probe.fentry()
    assert probe.for_program(ProgType.LSM) == probe.lsm()
    assert probe.for_program(ProgType.EXT) == probe.fentry()
    assert probe.for_program("tracepoint") == probe.prog_type("tracepoint")
    assert probe.for_program(ProgType.TRACING, AttachType.TRACE_ITER)
    assert probe.for_program(ProgType.TRACEPOINT)
