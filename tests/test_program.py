"""Program: properties and setters before and after load, log levels, test_run
for syscall, raw_tp, XDP and tc programs, pinning."""
from __future__ import annotations

import errno
import os
import socket
import struct
import subprocess
import sys
import uuid

import pytest

from libbpfpy import (
    AttachType,
    BPFError,
    ClosedError,
    NotSupportedError,
    Object,
    ProgType,
    TestRunResult,
    fs,
)
from libbpfpy._raw import lib

UDP_PORT = 4789
PKT_XDP, PKT_TC, PKT_TEST_RUN = 0, 1, 4
SYS_GETPPID = {"x86_64": 110, "aarch64": 173}[os.uname().machine]
HIT_TP_BTF = 2


def udp_packet(dport: int = UDP_PORT, payload: bytes = b"hello") -> bytes:
    """An Ethernet + IPv4 + UDP frame to ``dport``."""
    udp = struct.pack("!HHHH", 5555, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + udp


# -- properties -----------------------------------------------------------------------------

def test_properties_before_load(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        tp = obj.programs["tp_getppid"]
        assert tp.name == "tp_getppid"
        assert tp.section == "tracepoint/syscalls/sys_enter_getppid"
        assert tp.type is ProgType.TRACEPOINT
        assert tp.expected_attach_type is None  # not "cgroup_inet_ingress"
        assert tp.autoload and tp.autoattach
        assert tp.insn_count > 5
        assert len(tp.instructions) == tp.insn_count * 8
        assert tp.log_level == 0 and tp.log == ""
        assert tp.flags == 0 and tp.ifindex == 0
        assert not tp.loaded
        assert tp.object is obj
        with pytest.raises(BPFError, match="not loaded") as info:
            _ = tp.fd
        assert info.value.errno == errno.EBADF
        btf = obj.programs["btf_sys_enter"]
        assert btf.type is ProgType.TRACING
        assert btf.expected_attach_type is AttachType.TRACE_RAW_TP
        assert obj.programs["on_target_entry"].type is ProgType.KPROBE
        assert repr(tp) == ("<Program 'tp_getppid' SEC('tracepoint/syscalls/"
                            "sys_enter_getppid') tracepoint>")
    with Object.open(bpf_object_path("core_net")) as obj:
        cg = obj.programs["cgroup_egress"]
        assert cg.type is ProgType.CGROUP_SKB
        assert cg.expected_attach_type is AttachType.CGROUP_INET_EGRESS
        assert obj.programs["xdp_count"].expected_attach_type is AttachType.XDP
        assert obj.programs["tc_count"].expected_attach_type is None
    with Object.open(bpf_object_path("iter_task")) as obj:
        assert obj.programs["dump_task"].expected_attach_type is AttachType.TRACE_ITER
    assert repr(tp) == "<Program 'tp_getppid' closed>"


def test_setters_before_load(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        p = obj.programs["raw_sys_enter"]
        p.autoload = False
        assert not p.autoload
        p.autoattach = False
        assert not p.autoattach
        p.autoattach = True
        p.log_level = 1
        assert p.log_level == 1
        p.flags = 0
        p.set_type(ProgType.SOCKET_FILTER)
        assert p.type is ProgType.SOCKET_FILTER
        p.type = "raw_tracepoint"
        assert p.type is ProgType.RAW_TRACEPOINT
        p.expected_attach_type = AttachType.TRACE_RAW_TP
        assert p.expected_attach_type is AttachType.TRACE_RAW_TP
        p.expected_attach_type = 0
        with pytest.raises(ValueError, match="unknown ProgType"):
            p.set_type("not-a-type")


@pytest.mark.root
def test_setters_after_load_are_refused(bpf_object_path):
    with Object.open(bpf_object_path("basic")) as obj:
        obj.load()
        p = obj.programs["count_first"]
        assert p.loaded and p.fd > 2
        assert p.insn_count > 5
        for setter in (lambda: setattr(p, "autoload", False),
                       lambda: p.set_type(ProgType.XDP),
                       lambda: setattr(p, "log_level", 1),
                       lambda: setattr(p, "flags", 1),
                       lambda: p.set_attach_target("bpf_fentry_test1"),
                       lambda: setattr(p, "expected_attach_type", AttachType.TRACE_FENTRY)):
            with pytest.raises(BPFError, match="only be changed before the object is loaded"):
                setter()
        p.autoattach = False  # allowed at any time
        assert not p.autoattach


@pytest.mark.root
def test_log_level_keeps_the_verifier_log_of_a_good_load(bpf_object_path):
    with Object.open(bpf_object_path("basic")) as obj:
        obj.programs["count_first"].log_level = 1
        obj.load()
        log = obj.programs["count_first"].log
        assert "processed" in log and "insns" in log
        assert obj.programs["count_second"].log == ""


@pytest.mark.root
def test_log_level_stats_only(bpf_object_path):
    with Object.open(bpf_object_path("basic")) as obj:
        obj.programs["count_first"].log_level = 4  # BPF_LOG_STATS
        obj.load()
        log = obj.programs["count_first"].log
        assert "processed" in log
        assert "R1" not in log  # no per-instruction trace at this level


@pytest.mark.root
def test_set_attach_target_retargets_a_tp_btf_program(bpf_object_path):
    # btf_sys_enter counts events whose second argument equals cfg[1]; moved to
    # sys_exit, that argument is the return value, which for getppid() is our pid.
    with Object.open(bpf_object_path("core_trace")) as obj:
        for p in obj.programs.values():
            p.autoload = p.name == "btf_sys_enter"
        obj.programs["btf_sys_enter"].set_attach_target("sys_exit")
        obj.load()
        link = obj.programs["btf_sys_enter"].attach()
        child = subprocess.Popen([sys.executable, "-c",
                                  "import os,sys; sys.stdin.read(); "
                                  "[os.getppid() for _ in range(9)]"],
                                 stdin=subprocess.PIPE)
        obj.maps["cfg_map"][0] = child.pid
        obj.maps["cfg_map"][1] = os.getpid()
        child.communicate(b"")
        assert obj.maps["hits"][HIT_TP_BTF] >= 9
        link.destroy()



def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.root
def test_set_attach_target_then_close_unloaded_frees_kernel_btf(bpf_object_path):
    # set_attach_target has libbpf parse the kernel's BTF into the object; libbpf
    # < 1.6 frees it only at load, so each object closed unloaded kept the parsed
    # vmlinux BTF (several MB) unless libbpfpy has it freed.
    path = bpf_object_path("core_trace")
    vmlinux_btf = os.path.getsize("/sys/kernel/btf/vmlinux")

    def cycle() -> None:
        with Object.open(path) as obj:
            obj.programs["btf_sys_enter"].set_attach_target("sys_exit")

    cycle()  # warm-up: allocator pools, libbpf's one-time probes
    before = _resident_bytes()
    for _ in range(12):
        cycle()
    grown = _resident_bytes() - before
    assert grown < 3 * vmlinux_btf, (
        f"12 open/set_attach_target/close cycles grew the process by {grown} bytes "
        f"(the kernel's BTF is {vmlinux_btf} bytes)")


@pytest.mark.root
def test_set_attach_target_to_no_function_then_close_leaves_no_fd(bpf_object_path):
    # A name not in vmlinux has libbpf open every kernel module's BTF to search it;
    # libbpf < 1.6 closes those fds only at load, so an object closed unloaded
    # left one fd per module with BTF behind (on hosts that have such modules).
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with Object.open(bpf_object_path("core_trace")) as obj:
            with pytest.raises(BPFError, match="set_attach_target"):
                obj.programs["btf_sys_enter"].set_attach_target("libbpfpy_no_such_function")
    left = []
    for fd in sorted(set(os.listdir("/proc/self/fd")) - before, key=int):
        try:
            left.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass  # the listing's own fd
    modules = [n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux"]
    assert not left, f"left open: {left}; modules with BTF: {modules}"

# -- test_run ---------------------------------------------------------------------------------

@pytest.mark.root
def test_test_run_xdp_counts_and_passes(bpf_object_path):
    with Object.open(bpf_object_path("core_net")) as obj:
        obj.load()
        obj.maps["port_cfg"][0] = UDP_PORT
        pkt = udp_packet()
        res = obj.programs["xdp_count"].test_run(pkt)
        assert isinstance(res, TestRunResult)
        assert res.retval == 2  # XDP_PASS
        assert res.data == pkt
        assert obj.maps["pkts"][PKT_XDP] == 1
        res = obj.programs["xdp_count"].test_run(pkt, repeat=25)
        assert obj.maps["pkts"][PKT_XDP] == 26
        assert res.duration_ns >= 0 and res.duration == res.duration_ns / 1e9
        obj.programs["xdp_count"].test_run(udp_packet(dport=UDP_PORT + 1))
        assert obj.maps["pkts"][PKT_XDP] == 26  # other port: not counted


@pytest.mark.root
def test_test_run_tc_data_out_and_ctx(bpf_object_path):
    with Object.open(bpf_object_path("core_net")) as obj:
        obj.load()
        obj.maps["port_cfg"][0] = UDP_PORT
        pkt = udp_packet(payload=b"hello")
        res = obj.programs["tc_count"].test_run(pkt)
        assert res.retval == 0  # TC_ACT_OK
        assert res.data == pkt[:-5] + b"Xello"  # the program rewrote the payload
        assert obj.maps["pkts"][PKT_TC] == 1
        # a __sk_buff context in, the kernel's view of it out
        skb = bytearray(192)  # sizeof(struct __sk_buff)
        struct.pack_into("I", skb, 8, 0x1234)  # mark
        res = obj.programs["tc_count"].test_run(pkt, ctx=bytes(skb))
        assert len(res.ctx) == 192
        assert struct.unpack_from("I", res.ctx, 8)[0] == 0x1234
        # an undersized data_size_out is the caller's choice: an error
        with pytest.raises(BPFError) as info:
            obj.programs["tc_count"].test_run(pkt, data_size_out=10)
        assert info.value.errno == errno.ENOSPC


@pytest.mark.root
def test_test_run_syscall_ctx_written_back(bpf_object_path):
    import ctypes

    class Report(ctypes.Structure):
        _fields_ = [("kconfig_test", ctypes.c_int64), ("kernel_version", ctypes.c_uint64),
                    ("pinned0", ctypes.c_uint64)]

    with Object.open(bpf_object_path("core_obj"), kconfig="CONFIG_LIBBPFPY_TEST=-7") as obj:
        obj.maps["pinned_counts"].pin_path = None  # no pinning for this test
        obj.load()
        rep = Report()
        res = obj.programs["report"].test_run(ctx=rep)
        assert res.retval == 0
        assert rep.kconfig_test == -7  # written into the ctypes object itself
        assert bytes(rep) == res.ctx
        with pytest.raises(ValueError, match="takes no packet data"):
            obj.programs["report"].test_run(b"data", ctx=rep)
        with pytest.raises(ValueError, match="repeat must be 1"):
            obj.programs["report"].test_run(ctx=rep, repeat=3)


@pytest.mark.root
def test_test_run_raw_tp_with_args(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as obj:
        obj.load()
        args = struct.pack("QQ", 3, 0x0A000001)
        res = obj.programs["write_more"].test_run(ctx=args)
        assert res.retval == 0
        assert obj.maps["results"][0] == 0  # every update in the program succeeded
        assert obj.maps["lru"][3] == 0x0A000001


@pytest.mark.root
def test_test_run_refused_for_tracepoints(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        obj.load()
        with pytest.raises(NotSupportedError, match="cannot be test-run"):
            obj.programs["tp_getppid"].test_run(b"\0" * 64)


@pytest.mark.root
def test_test_run_needs_a_loaded_program(bpf_object_path):
    with Object.open(bpf_object_path("core_net")) as obj:
        with pytest.raises(BPFError, match="not loaded"):
            obj.programs["xdp_count"].test_run(udp_packet())


# -- pinning ----------------------------------------------------------------------------------

@pytest.mark.root
def test_pin_and_unpin_a_program(bpf_object_path):
    fs.mount_bpffs()
    path = os.path.join(fs.BPFFS, f"libbpfpy-prog-{uuid.uuid4().hex[:8]}")
    with Object.open(bpf_object_path("core_net")) as obj:
        obj.load()
        prog = obj.programs["xdp_count"]
        prog.pin(path)
        assert os.path.exists(path)
        fd = lib.bpf_obj_get(path.encode())
        assert fd >= 0
        try:
            from libbpfpy.inventory import ProgramInfo
            info = ProgramInfo.from_fd(fd)
            assert info.name == "xdp_count" and info.id == prog.info().id
        finally:
            os.close(fd)
        prog.unpin(path)
        assert not os.path.exists(path)
        with pytest.raises(BPFError) as info:
            prog.unpin(path)
        assert info.value.errno == errno.ENOENT


def test_program_after_close(bpf_object_path):
    obj = Object.open(bpf_object_path("core_net"))
    prog = obj.programs["xdp_count"]
    obj.close()
    for call in (lambda: prog.type, lambda: prog.section, lambda: prog.insn_count,
                 lambda: setattr(prog, "autoload", False), prog.attach,
                 lambda: prog.attach_xdp(1), lambda: prog.test_run(b"x"),
                 lambda: prog.pin("/sys/fs/bpf/x"), lambda: prog.log):
        with pytest.raises(ClosedError, match="program 'xdp_count'"):
            call()


@pytest.mark.root
def test_ifindex_is_set_before_load_and_refused_after(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        tp = obj.programs["tp_getppid"]
        tp.ifindex = 1
        assert tp.ifindex == 1
        tp.ifindex = 0          # no offload: the load below must not try one
        assert tp.ifindex == 0
        obj.load()
        with pytest.raises(BPFError, match="only be changed before the object is loaded"):
            tp.ifindex = 1
        assert tp.ifindex == 0
