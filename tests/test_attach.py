"""Every attach kind this kernel has, each with a real event observed; the kinds it
lacks (kprobes, fentry, LSM, freplace) refused with NotSupportedError naming the
missing feature."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import send_udp, skip_unless, wait_for
from libbpfpy import (
    BPFError,
    Link,
    LinkType,
    NotSupportedError,
    Object,
    fs,
    probe,
)
from libbpfpy.perf_event import open_sampling_event

pytestmark = pytest.mark.root

SYS_GETPPID = {"x86_64": 110, "aarch64": 173}[os.uname().machine]
(HIT_TP, HIT_RAW_TP, HIT_TP_BTF, HIT_PERF, HIT_UPROBE, HIT_URETPROBE, HIT_USDT,
 HIT_UPROBE_ANY) = range(8)
PKT_XDP, PKT_TC, PKT_CGROUP, PKT_SK_LOOKUP = range(4)
UDP_PORT = 4790

CHILD = ("import os, sys\n"
         "sys.stdin.read()\n"
         "for _ in range({n}): os.getppid()\n")


def run_child_calls(obj: Object, n: int) -> int:
    """Start a child, make it the programs' target, let it call getppid() n times;
    return its pid."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(n=n)], stdin=subprocess.PIPE)
    obj.maps["cfg_map"][0] = child.pid
    obj.maps["cfg_map"][1] = SYS_GETPPID
    child.communicate(b"")
    assert child.returncode == 0
    return child.pid


@pytest.fixture
def trace_obj(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        obj.load()
        yield obj


# -- tracepoints ------------------------------------------------------------------------------

def test_tracepoint_counts_a_childs_getppid_calls(trace_obj):
    link = trace_obj.programs["tp_getppid"].attach_tracepoint("syscalls", "sys_enter_getppid")
    assert isinstance(link, Link)
    pid = run_child_calls(trace_obj, 17)
    assert trace_obj.maps["calls"][pid] == 17
    assert dict(trace_obj.maps["calls"]) == {pid: 17}
    assert trace_obj.maps["hits"][HIT_TP] == 17
    link.destroy()
    run_child_calls(trace_obj, 5)
    assert trace_obj.maps["hits"][HIT_TP] == 17  # detached: nothing more counted


def test_tracepoint_by_section(trace_obj):
    link = trace_obj.programs["tp_getppid"].attach()
    pid = run_child_calls(trace_obj, 3)
    assert trace_obj.maps["calls"][pid] == 3
    link.destroy()


def test_no_such_tracepoint(trace_obj):
    with pytest.raises(BPFError, match="no tracepoint syscalls:sys_enter_nothing") as info:
        trace_obj.programs["tp_getppid"].attach_tracepoint("syscalls", "sys_enter_nothing")
    assert info.value.errno == 2


def test_raw_tracepoint(trace_obj):
    link = trace_obj.programs["raw_sys_enter"].attach_raw_tracepoint("sys_enter")
    run_child_calls(trace_obj, 11)
    assert trace_obj.maps["hits"][HIT_RAW_TP] >= 11
    link.destroy()
    with pytest.raises(BPFError, match="no raw tracepoint 'no_such_tp'"):
        trace_obj.programs["raw_sys_enter"].attach_raw_tracepoint("no_such_tp")


def test_tp_btf(trace_obj):
    skip_unless(probe.tp_btf())
    link = trace_obj.programs["btf_sys_enter"].attach_trace()
    run_child_calls(trace_obj, 6)
    assert trace_obj.maps["hits"][HIT_TP_BTF] >= 6
    assert link.info().type == LinkType.RAW_TRACEPOINT  # the kernel's link for tp_btf
    link.destroy()


# -- perf events ------------------------------------------------------------------------------

def test_perf_event_on_a_software_clock(trace_obj):
    fd = open_sampling_event(pid=0, freq=1000)
    try:
        link = trace_obj.programs["on_cpu_clock"].attach_perf_event(fd)
    finally:
        os.close(fd)  # the link holds its own duplicate
    trace_obj.maps["cfg_map"][0] = os.getpid()
    end = time.monotonic() + 0.5
    while time.monotonic() < end and trace_obj.maps["hits"][HIT_PERF] < 5:
        sum(range(10000))  # burn CPU so the clock samples us
    assert trace_obj.maps["hits"][HIT_PERF] >= 5
    link.destroy()
    before = trace_obj.maps["hits"][HIT_PERF]
    end = time.monotonic() + 0.1
    while time.monotonic() < end:
        sum(range(10000))
    assert trace_obj.maps["hits"][HIT_PERF] == before


def test_perf_event_bad_fd(trace_obj):
    with pytest.raises(OSError):
        trace_obj.programs["on_cpu_clock"].attach_perf_event(9999)


# -- uprobes and USDT ----------------------------------------------------------------------------

def run_target(obj: Object, binary: str, n: int) -> int:
    """Run the test binary as the programs' target (its pid is set before it execs)."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import os, sys; sys.stdin.read(); "
         f"os.execv({binary!r}, [{binary!r}, {str(n)!r}])"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    obj.maps["cfg_map"][0] = child.pid
    out, _ = child.communicate(b"")
    assert child.returncode == 0
    assert int(out) == sum(2 * i + 1 for i in range(n))
    return child.pid


def test_uprobe_and_uretprobe_on_a_test_binary(trace_obj, c_binary):
    skip_unless(probe.uprobes())
    binary = c_binary("core_target")
    entry = trace_obj.programs["on_target_entry"].attach_uprobe(
        binary, func_name="libbpfpy_target")
    ret = trace_obj.programs["on_target_return"].attach_uprobe(
        binary, func_name="libbpfpy_target", retprobe=True)
    pid = run_target(trace_obj, binary, 5)
    hits, seen = trace_obj.maps["hits"], trace_obj.maps["seen"]
    assert hits[HIT_UPROBE] == 5 and hits[HIT_URETPROBE] == 5
    assert seen[0] == 4            # last argument
    assert seen[1] == 9            # last return value: 4 * 2 + 1
    assert seen[2] == pid          # the right process
    entry.destroy()
    ret.destroy()
    run_target(trace_obj, binary, 2)
    assert hits[HIT_UPROBE] == 5


def test_uprobe_limited_to_one_pid(trace_obj, c_binary):
    # on_target_any counts every call it sees (no pid filter in BPF): only the
    # attach's pid= keeps the other process's calls out.
    skip_unless(probe.uprobes())
    binary = c_binary("core_target")
    script = ("import os, sys; sys.stdin.read(); "
              f"os.execv({binary!r}, [{binary!r}, sys.argv[1]])")
    watched, other = (subprocess.Popen([sys.executable, "-c", script, n],
                                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                      for n in ("3", "5"))
    link = trace_obj.programs["on_target_any"].attach_uprobe(
        binary, func_name="libbpfpy_target", pid=watched.pid)
    other.communicate(b"")
    watched.communicate(b"")
    assert trace_obj.maps["hits"][HIT_UPROBE_ANY] == 3
    link.destroy()
    unlimited = trace_obj.programs["on_target_any"].attach_uprobe(
        binary, func_name="libbpfpy_target")  # pid=-1: every process
    subprocess.run([binary, "4"], check=True, stdout=subprocess.DEVNULL)
    assert trace_obj.maps["hits"][HIT_UPROBE_ANY] == 3 + 4
    unlimited.destroy()


def test_uprobe_errors_name_the_problem(trace_obj, c_binary, tmp_path):
    skip_unless(probe.uprobes())
    prog = trace_obj.programs["on_target_entry"]
    with pytest.raises(BPFError, match="does not exist"):
        prog.attach_uprobe(tmp_path / "missing", func_name="f")
    with pytest.raises(BPFError, match="no function 'no_such_function'"):
        prog.attach_uprobe(c_binary("core_target"), func_name="no_such_function")


def test_usdt_probe(trace_obj, c_binary):
    skip_unless(probe.uprobes())
    binary = c_binary("core_target")
    link = trace_obj.programs["on_usdt_tick"].attach_usdt(binary, "libbpfpy", "tick",
                                                           cookie=0xC0FFEE)
    run_target(trace_obj, binary, 4)
    seen = trace_obj.maps["seen"]
    assert trace_obj.maps["hits"][HIT_USDT] == 4
    assert seen[3] == 3 and seen[4] == 42 and seen[5] == 0xC0FFEE
    link.destroy()
    with pytest.raises(BPFError):
        trace_obj.programs["on_usdt_tick"].attach_usdt(binary, "libbpfpy", "no_such_probe")


# -- networking -----------------------------------------------------------------------------------

def test_xdp_on_a_veth_sees_packets_from_the_other_end(net_obj, veth_pair):
    ns_a, ns_b = veth_pair
    with ns_b.inside():
        link = net_obj.programs["xdp_count"].attach_xdp("vb")
        ifindex = __import__("socket").if_nametoindex("vb")
    assert link.info().type == LinkType.XDP
    assert link.info().target == {"ifindex": ifindex}
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 12)
        send_udp("10.77.0.2", UDP_PORT + 1, 3)  # another port: not counted
    assert wait_for(lambda: net_obj.maps["pkts"][PKT_XDP] == 12)
    assert net_obj.maps["pkts"][PKT_XDP] == 12
    link.destroy()
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 4)
    time.sleep(0.1)
    assert net_obj.maps["pkts"][PKT_XDP] == 12


def test_xdp_no_such_interface(net_obj):
    with pytest.raises(BPFError, match="no network interface 'nonexistent0'"):
        net_obj.programs["xdp_count"].attach_xdp("nonexistent0")


def test_cgroup_skb_counts_traffic_of_a_fresh_cgroup(net_obj, cgroup_dir):
    link = net_obj.programs["cgroup_egress"].attach_cgroup(cgroup_dir)
    assert link.info().type == LinkType.CGROUP
    sender = ("import socket, sys\n"
              "sys.stdin.readline()\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              f"for _ in range(9): s.sendto(b'x', ('127.0.0.1', {UDP_PORT}))\n")
    child = subprocess.Popen([sys.executable, "-c", sender], stdin=subprocess.PIPE, text=True)
    with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
        f.write(str(child.pid))
    child.communicate("go\n")
    assert child.returncode == 0
    assert net_obj.maps["pkts"][PKT_CGROUP] == 9
    send_udp("127.0.0.1", UDP_PORT, 5)  # from outside the cgroup: not counted
    assert net_obj.maps["pkts"][PKT_CGROUP] == 9
    link.destroy()


def test_cgroup_by_fd_and_bad_path(net_obj, cgroup_dir, tmp_path):
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        link = net_obj.programs["cgroup_egress"].attach_cgroup(fd)
    finally:
        os.close(fd)
    link.destroy()
    with pytest.raises(BPFError, match="cannot open cgroup"):
        net_obj.programs["cgroup_egress"].attach_cgroup(tmp_path / "nope")


def test_netns_sk_lookup_counts_lookups(net_obj, netns_factory):
    ns = netns_factory()
    link = net_obj.programs["sk_lookup_count"].attach_netns(ns.path)
    assert link.info().type == LinkType.NETNS
    with ns.inside():
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
            rx.bind(("127.0.0.1", UDP_PORT))
            send_udp("127.0.0.1", UDP_PORT, 6)
            for _ in range(6):
                assert rx.recv(64) == b"libbpfpy"
    assert net_obj.maps["pkts"][PKT_SK_LOOKUP] == 6
    link.destroy()


# -- iterators -------------------------------------------------------------------------------------

def test_task_iterator_lists_a_known_pid(bpf_object_path):
    skip_unless(probe.iterator("task"))
    with Object.open(bpf_object_path("iter_task")) as obj:
        obj.load()
        with obj.programs["dump_task"].attach_iter() as link:
            child = subprocess.Popen(["sleep", "30"])

            def exec_done() -> bool:
                # the parent may resume before exec has renamed the child
                with open(f"/proc/{child.pid}/comm") as f:
                    return f.read().strip() == "sleep"
            try:
                assert wait_for(exec_done)
                text = link.read().decode()
            finally:
                child.kill()
                child.wait()
            lines = text.splitlines()
            with open("/proc/self/comm") as f:
                comm = f.read().strip()
            assert f"{os.getpid()} {comm}" in lines
            assert f"{child.pid} sleep" in lines
            assert len(lines) >= 3
            assert link.info().type == LinkType.ITER
            assert link.read()  # an iterator link can be read again


def test_map_element_iterator(bpf_object_path):
    skip_unless(probe.iterator("bpf_map_elem"))
    with Object.open(bpf_object_path("iter_map_elem")) as obj:
        obj.load()
        elems = obj.maps["elems"]
        for k in range(5):
            elems[k] = k * 1000 + 7
        link = obj.programs["dump_elem"].attach_iter(map=elems)
        out = link.read().decode()
        assert sorted(out.splitlines()) == sorted(f"{k}={k * 1000 + 7}" for k in range(5))
        link.destroy()
        with pytest.raises(BPFError):
            obj.programs["dump_elem"].attach_iter()  # a map element iterator needs a map


# -- what this kernel lacks ----------------------------------------------------------------------

@pytest.fixture
def unsup(bpf_object_path):
    def make(*names: str) -> Object:
        obj = Object.open(bpf_object_path("core_unsup"))
        for p in obj.programs.values():
            p.autoload = p.name in names
        return obj
    return make


@pytest.mark.parametrize("how", ["kprobe", "kretprobe", "ksyscall", "kretsyscall",
                                 "kprobe_multi", "section"])
def test_kprobe_family_without_kprobes(unsup, how):
    feature = probe.kprobe_multi() if how == "kprobe_multi" else probe.kprobes()
    with unsup("kp_manual", "kp_nanosleep") as obj:
        obj.load()
        prog = obj.programs["kp_manual"]
        attach = {
            "kprobe": lambda: prog.attach_kprobe("do_nanosleep"),
            "kretprobe": lambda: prog.attach_kretprobe("do_nanosleep"),
            "ksyscall": lambda: prog.attach_ksyscall("nanosleep"),
            "kretsyscall": lambda: prog.attach_ksyscall("nanosleep", retprobe=True),
            "kprobe_multi": lambda: prog.attach_kprobe_multi("do_nanosl*"),
            "section": lambda: obj.programs["kp_nanosleep"].attach(),
        }[how]
        if feature:
            pytest.skip(f"the kernel has the feature (probe says: {feature}); "
                        "test_kernel_features.py observes it")
        with pytest.raises(NotSupportedError) as info:
            attach()
        assert feature.reason in str(info.value)
        if how == "kprobe_multi":
            assert info.value.feature == "kprobe_multi"
            return
        assert "CONFIG_KPROBES" in str(info.value)
        assert info.value.feature == "kprobe"
        check_alternative(info.value.hint, syscall=how in ("ksyscall", "kretsyscall"))


def check_alternative(hint: str, *, syscall: bool) -> None:
    """The hint of a refused kprobe names only ways this kernel allows: a syscall's
    tracepoint when tracefs lists it, fentry only where it loads."""
    import re
    tracepoints = re.findall(r"tracepoint syscalls:(\w+)", hint)
    for tp in tracepoints:
        assert fs.tracepoint_exists("syscalls", tp), hint
    if syscall and probe.tracefs():
        assert tracepoints, hint
    if not probe.fentry():
        assert "SEC(\"fentry" not in hint and "SEC(\"fexit" not in hint, hint
    if not tracepoints and not probe.fentry():
        assert "refuses fentry" in hint, hint


def test_kprobe_multi_argument_checks(unsup):
    with unsup("kp_manual") as obj:
        obj.load()
        prog = obj.programs["kp_manual"]
        with pytest.raises(ValueError, match="exactly one of pattern and syms"):
            prog.attach_kprobe_multi()
        with pytest.raises(ValueError, match="cookies must match"):
            prog.attach_kprobe_multi(syms=["a", "b"], cookies=[1])


@pytest.mark.parametrize("name, feature", [("fentry_nanosleep", "fentry"),
                                           ("fexit_nanosleep", "fentry"),
                                           ("lsm_file_open", "lsm")])
def test_fentry_and_lsm_refused_with_the_reason(unsup, name, feature):
    found = getattr(probe, feature)()
    with unsup(name) as obj:
        if found:
            pytest.skip(f"the kernel has the feature (probe says: {found}); "
                        "test_kernel_features.py observes it")
        with pytest.raises(NotSupportedError) as info:
            obj.load()
        assert name in str(info.value)
        assert found.reason in str(info.value)
        assert f"refuses {feature} programs" in str(info.value)


def test_attach_trace_and_lsm_need_a_loaded_program(unsup):
    with unsup("kp_manual") as obj:
        obj.load()
        for call in (obj.programs["fentry_nanosleep"].attach_trace,
                     obj.programs["lsm_file_open"].attach_lsm):
            with pytest.raises(BPFError, match="not loaded"):
                call()


def test_freplace(bpf_object_path):
    with Object.open(bpf_object_path("core_freplace_target")) as target:
        target.load()
        tfd = target.programs["xdp_target"].fd
        with Object.open(bpf_object_path("core_freplace")) as obj:
            obj.programs["new_pick"].set_attach_target("pick", tfd)
            feature = probe.fentry()
            if not feature:
                with pytest.raises(NotSupportedError) as info:
                    obj.load()
                assert feature.reason in str(info.value)
                skip_unless(feature)
            obj.load()  # pragma: no cover - not on this kernel
            from test_program import udp_packet
            assert target.programs["xdp_target"].test_run(udp_packet()).retval == 2
            with obj.programs["new_pick"].attach_freplace(tfd, "pick"):
                assert target.programs["xdp_target"].test_run(udp_packet()).retval == 1


def test_attach_unloaded_program_is_refused(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        prog = obj.programs["tp_getppid"]
        for call in (prog.attach, lambda: prog.attach_tracepoint("syscalls",
                                                                 "sys_enter_getppid"),
                     lambda: prog.attach_raw_tracepoint("sys_enter"),
                     lambda: prog.attach_xdp(1), lambda: prog.attach_iter()):
            with pytest.raises(BPFError, match="not loaded"):
                call()
