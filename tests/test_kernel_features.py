"""Attach kinds a host may lack, each observed for real where the kernel has it.

The development host has no kprobes and refuses fentry, fmod_ret and LSM programs; the
kernel matrix (``make test-kernels``) runs these tests in Debian 6.1, 6.12 and 7.x
guests, where they do.  Every test probes exactly its feature and skips quoting the
probe; each fixture holds one feature.  Counts are exact: the BPF programs count only
the child process the test names (``target_tgid``), and the child makes a known number
of calls on cue.
"""
from __future__ import annotations

import os

import pytest

from children import CueChild
from conftest import skip_unless
from libbpfpy import NotSupportedError, Object, probe

pytestmark = pytest.mark.root

SLOTS = 8


@pytest.fixture
def child():
    with CueChild() as c:
        yield c


@pytest.fixture
def counting(bpf_object_path):
    """``counting("kprobe", tgid, **globals)`` -> that fixture loaded, counting ``tgid``."""
    opened: list[Object] = []

    def load(name: str, tgid: int, **values: int) -> Object:
        obj = Object.open(bpf_object_path(name))
        opened.append(obj)
        obj.globals["target_tgid"] = tgid
        for key, value in values.items():
            obj.globals[key] = value
        obj.load()
        return obj
    yield load
    for obj in opened:
        obj.close()


def hits(obj: Object) -> list[int]:
    return [obj.maps["hits"][i] for i in range(SLOTS)]


# -- kprobes -----------------------------------------------------------------------------

def test_kprobe_kretprobe_and_ksyscall_count_each_call(counting, child):
    skip_unless(probe.kprobes())
    obj = counting("kprobe", child.pid)
    links = obj.attach()  # every program with a target in its section
    assert sorted(link.program.name for link in links) == [
        "kprobe_entry", "kprobe_return", "ksyscall_entry", "ksyscall_return"]
    child.do("nanosleep", 5)
    assert child.do("getppid", 7) == str(os.getpid())
    assert hits(obj)[:5] == [5, 5, 7, 7, 0]
    for link in links:
        link.destroy()
    child.do("nanosleep", 3)
    assert hits(obj)[:2] == [5, 5]  # detached: nothing more


def test_kprobe_by_hand_with_cookies(counting, child):
    skip_unless(probe.kprobes())
    obj = counting("kprobe", child.pid)
    prog = obj.programs["kprobe_cookie"]
    with prog.attach_kprobe("hrtimer_nanosleep", cookie=1000), \
            prog.attach_kretprobe("hrtimer_nanosleep", cookie=1), \
            prog.attach_ksyscall("getppid", cookie=100000):
        child.do("nanosleep", 3)
        child.do("getppid", 2)
    assert hits(obj)[4] == 3 * 1000 + 3 * 1 + 2 * 100000


def test_kprobe_multi_by_section_pattern_and_symbols(counting, child):
    skip_unless(probe.kprobes())
    skip_unless(probe.kprobe_multi())
    obj = counting("kprobe_multi", child.pid)
    links = obj.attach()
    child.do("nanosleep", 4)
    assert hits(obj)[:2] == [4, 4]
    for link in links:
        link.destroy()
    prog = obj.programs["multi_cookie"]
    getppid = probe.syscall_symbol("getppid")
    with prog.attach_kprobe_multi(syms=["hrtimer_nanosleep", getppid], cookies=[1, 100]):
        child.do("nanosleep", 2)
        child.do("getppid", 3)
    assert hits(obj)[2] == 2 * 1 + 3 * 100


def test_kprobe_multi_glob_counts(counting, child):
    # libbpf 1.1 matched a glob against kallsyms, where symbols ftrace cannot trace
    # made the kernel refuse the whole set (EINVAL on 6.12); libbpfpy resolves the
    # glob against tracefs' available_filter_functions instead.
    skip_unless(probe.kprobes())
    skip_unless(probe.kprobe_multi())
    obj = counting("kprobe_multi", child.pid)
    with obj.programs["multi_entry"].attach_kprobe_multi("hrtimer_nanoslee*"):
        child.do("nanosleep", 6)
    assert hits(obj)[0] == 6


# -- BPF trampolines ----------------------------------------------------------------------

def test_fentry_and_fexit_count_each_call(counting, child):
    skip_unless(probe.fentry())
    obj = counting("fentry", child.pid)
    links = obj.attach()
    assert sorted(link.program.name for link in links) == ["fentry_entry", "fexit_return"]
    child.do("nanosleep", 6)
    assert hits(obj)[:2] == [6, 6]
    for link in links:
        link.destroy()


def test_fmod_ret_replaces_a_return_value(counting, child):
    skip_unless(probe.fmod_ret())
    obj = counting("fmod_ret", child.pid)
    real = child.do("getsid")
    assert real == str(os.getsid(child.pid))
    with obj.programs["fake_getsid"].attach():
        assert child.do("getsid", 3) == "4242"
        assert os.getsid(os.getpid()) != 4242  # only the target process is fooled
    assert child.do("getsid") == real
    assert hits(obj)[0] == 3


# -- BPF LSM -------------------------------------------------------------------------------

def test_lsm_denies_one_file_to_one_process(counting, child, tmp_path):
    skip_unless(probe.lsm())
    secret, other = tmp_path / "secret", tmp_path / "other"
    secret.write_text("no")
    other.write_text("yes")
    obj = counting("lsm", child.pid, target_ino=os.stat(secret).st_ino)
    assert child.do("open", 1, str(secret)) == "0"
    with obj.programs["deny_open"].attach():
        assert child.do("open", 3, str(secret)) == "EPERM"
        assert child.do("open", 2, str(other)) == "0"
        assert secret.read_text() == "no"  # other processes still may
    assert child.do("open", 1, str(secret)) == "0"
    assert hits(obj)[0] == 3


def test_refused_kinds_name_their_probe(bpf_object_path):
    # On a kernel refusing a kind, loading its fixture says why, quoting the probe.
    for name, feature in (("fentry", probe.fentry()), ("fmod_ret", probe.fmod_ret()),
                          ("lsm", probe.lsm())):
        if feature:
            continue
        with Object.open(bpf_object_path(name)) as obj:
            with pytest.raises(NotSupportedError) as info:
                obj.load()
        assert feature.reason in str(info.value), (name, str(info.value))


# -- struct_ops ------------------------------------------------------------------------------

def test_struct_ops_tcp_congestion_control_runs_for_a_socket_that_picks_it(bpf_object_path):
    # A TCP congestion control written in BPF (tests/bpf/struct_ops.bpf.c, a legacy
    # .struct_ops map: every libbpf attaches it) is registered while attached, a
    # connection that selects it runs its callbacks, and it is gone after detach.
    import socket
    skip_unless(probe.map_type("struct_ops"))
    skip_unless(probe.prog_type("struct_ops"))
    available = "/proc/sys/net/ipv4/tcp_available_congestion_control"
    with Object.open(bpf_object_path("struct_ops")) as obj:
        obj.load()
        calls = obj.maps["calls"]
        with obj.maps["lbpy_cc"].attach_struct_ops():
            with open(available) as f:
                assert "lbpy_cc" in f.read().split()
            with socket.socket() as srv, socket.socket() as cli:
                srv.bind(("127.0.0.1", 0))
                srv.listen()
                cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"lbpy_cc")
                cli.connect(srv.getsockname())
                peer, _ = srv.accept()
                with peer:
                    cli.sendall(b"x" * (1 << 20))
                    got = 0
                    while got < 1 << 20:
                        got += len(peer.recv(1 << 16))
                    assert cli.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION,
                                          16).rstrip(b"\0") == b"lbpy_cc"
            assert calls[0] == 1     # init: the one socket that chose it
            assert calls[1] > 0      # cong_avoid: acks of the megabyte it sent
        with open(available) as f:
            assert "lbpy_cc" not in f.read().split()
