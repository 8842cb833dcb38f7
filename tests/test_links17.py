"""Links libbpf >= 1.3 added -- tcx, netkit, netfilter, uprobe_multi, sockmap links and
raw tracepoint cookies -- attached for real and observed (packets counted, cookies
read by the program), where the loaded libbpf and the kernel have them (each test asks
its probe).  With an older libbpf (Debian 12's 1.1) each says which release has it."""
from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest

from conftest import send_udp, skip_unless, wait_for
from libbpfpy import BPFError, LinkType, NotSupportedError, Object, probe
from libbpfpy import _raw as raw
from libbpfpy.enums import AttachType, NfHook, NfProto

pytestmark = pytest.mark.root

UDP_PORT = 4793
TCX_A, TCX_B, TCX_EGRESS, NETKIT_PRIMARY, NETKIT_PEER = range(5)


def refused_by_old_libbpf(function: str, call) -> bool:
    """With a libbpf lacking ``function``: check ``call()`` raises the clear
    NotSupportedError naming the release, and return True (the test is done)."""
    if raw.is_available(function):
        return False
    since = raw._since(function)
    with pytest.raises(NotSupportedError, match=rf"{function}\(\) needs libbpf >= "
                       rf"{since}, this is {raw.version} "):
        call()
    return True


@pytest.fixture
def tcx_obj(bpf_object_path):
    with Object.open(bpf_object_path("tcx")) as obj:
        if raw.is_available("bpf_program__attach_tcx"):
            for name in ("netkit_primary", "netkit_peer"):
                obj.programs[name].autoload = bool(probe.netkit())
            obj.load()
            obj.maps["port_cfg"][0] = UDP_PORT
        yield obj


def test_tcx_runs_programs_in_the_order_asked(tcx_obj, veth_pair):
    a = tcx_obj.programs["tcx_a"]
    b = tcx_obj.programs["tcx_b"]
    if refused_by_old_libbpf("bpf_program__attach_tcx", lambda: a.attach_tcx("lo")):
        return
    skip_unless(probe.tcx())
    ns_a, ns_b = veth_pair
    hits, order = tcx_obj.maps["hits"], tcx_obj.maps["order"]
    with ns_b.inside():
        link_a = a.attach_tcx("vb")
        link_b = b.attach_tcx("vb", before=a)       # placed before a program
        info = link_b.info()
        assert info.type == LinkType.TCX and info.attach_type == AttachType.TCX_INGRESS
        assert info.target["ifindex"] == socket.if_nametoindex("vb")
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 5)
        send_udp("10.77.0.2", UDP_PORT + 1, 3)      # not counted: other port
    assert wait_for(lambda: hits[TCX_A] == 5 and hits[TCX_B] == 5)
    assert order[TCX_B] < order[TCX_A]               # b ran first
    link_b.destroy()
    with ns_b.inside():
        link_b = b.attach_tcx("vb", after=link_a)    # placed after a link
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 2)
    assert wait_for(lambda: hits[TCX_A] == 7 and hits[TCX_B] == 7)
    assert order[TCX_A] < order[TCX_B]               # now a runs first
    link_a.destroy()
    link_b.destroy()
    with ns_a.inside():
        send_udp("10.77.0.2", UDP_PORT, 4)
    assert hits[TCX_A] == 7 and hits[TCX_B] == 7     # detached: counts stand


def test_tcx_egress_first_and_errors(tcx_obj, veth_pair):
    prog = tcx_obj.programs["tcx_egress"]
    if refused_by_old_libbpf("bpf_program__attach_tcx", lambda: prog.attach_tcx("lo")):
        return
    skip_unless(probe.tcx())
    ns_a, _ = veth_pair
    with ns_a.inside():
        with prog.attach_tcx("va", before=True) as link:
            assert link.info().attach_type == AttachType.TCX_EGRESS
            send_udp("10.77.0.2", UDP_PORT, 6)
            assert wait_for(lambda: tcx_obj.maps["hits"][TCX_EGRESS] == 6)
        with pytest.raises(BPFError, match="no network interface 'nope0'"):
            prog.attach_tcx("nope0")
        with pytest.raises(BPFError, match="not attached there") as info:
            prog.attach_tcx("va", before=tcx_obj.programs["tcx_a"])
        assert info.value.errno == errno.ENOENT
        with pytest.raises(ValueError, match="at most one"):
            prog.attach_tcx("va", before=True, after=True)


# -- netkit ------------------------------------------------------------------------

def _netlink_new_netkit(name: str, peer: str) -> None:
    """Create a netkit pair (iproute2 of Debian 12 predates netkit): RTM_NEWLINK with
    IFLA_LINKINFO {kind "netkit", data {IFLA_NETKIT_PEER_INFO {ifinfomsg, IFNAME}}}."""
    import struct

    def attr(kind: int, payload: bytes) -> bytes:
        length = 4 + len(payload)
        return struct.pack("HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)

    ifinfo = struct.pack("BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    peer_info = attr(1, ifinfo + attr(3, peer.encode() + b"\0"))  # NETKIT_PEER_INFO
    linkinfo = attr(1, b"netkit\0") + attr(2 | 0x8000, peer_info)  # KIND, DATA (nested)
    body = ifinfo + attr(3, name.encode() + b"\0") + attr(18 | 0x8000, linkinfo)
    flags = 0x1 | 0x4 | 0x400 | 0x200   # REQUEST | ACK | CREATE | EXCL
    msg = struct.pack("IHHII", 16 + len(body), 16, flags, 1, 0) + body  # RTM_NEWLINK
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as nl:
        nl.send(msg)
        reply = nl.recv(4096)
    err, = struct.unpack_from("i", reply, 16)
    if err:
        raise OSError(-err, f"creating netkit {name}: {os.strerror(-err)}")


def test_netkit_programs_see_each_side_transmit(tcx_obj, netns_factory):
    primary, peer = tcx_obj.programs["netkit_primary"], tcx_obj.programs["netkit_peer"]
    if refused_by_old_libbpf("bpf_program__attach_netkit", lambda: primary.attach_netkit("lo")):
        return
    skip_unless(probe.netkit())
    host, pod = netns_factory(), netns_factory()
    with host.inside():
        _netlink_new_netkit("nk0", "nk1")
    host.ip("link", "set", "nk1", "netns", pod.name)
    host.ip("addr", "add", "10.78.0.1/24", "dev", "nk0")
    host.ip("link", "set", "nk0", "up")
    pod.ip("addr", "add", "10.78.0.2/24", "dev", "nk1")
    pod.ip("link", "set", "nk1", "up")
    hits = tcx_obj.maps["hits"]
    with host.inside():
        # Both are attached through the primary device: the peer (the pod's side)
        # cannot change its own programs.
        to_pod = primary.attach_netkit("nk0")
        from_pod = peer.attach_netkit("nk0")
        info = to_pod.info()
        assert info.type == LinkType.NETKIT and info.attach_type == AttachType.NETKIT_PRIMARY
        assert from_pod.info().attach_type == AttachType.NETKIT_PEER
        send_udp("10.78.0.2", UDP_PORT, 4)       # the primary transmits: its programs run
    assert wait_for(lambda: hits[NETKIT_PRIMARY] == 4)
    with pod.inside():
        send_udp("10.78.0.1", UDP_PORT, 3)       # the peer transmits: the peer programs run
    assert wait_for(lambda: hits[NETKIT_PEER] == 3)
    assert hits[NETKIT_PRIMARY] == 4
    to_pod.destroy()
    from_pod.destroy()


# -- netfilter -----------------------------------------------------------------------

@pytest.fixture
def nf_obj(bpf_object_path):
    with Object.open(bpf_object_path("netfilter")) as obj:
        if raw.is_available("bpf_program__attach_netfilter"):
            obj.load()
            obj.maps["port_cfg"][0] = UDP_PORT
        yield obj


def test_netfilter_hook_counts_packets(nf_obj, netns_factory):
    prog = nf_obj.programs["nf_count"]
    if refused_by_old_libbpf("bpf_program__attach_netfilter",
                             lambda: prog.attach_netfilter(NfProto.IPV4, NfHook.LOCAL_OUT, 10)):
        return
    skip_unless(probe.netfilter())
    ns = netns_factory()
    with ns.inside():
        link = prog.attach_netfilter(NfProto.IPV4, NfHook.LOCAL_OUT, -10)
        info = link.info()
        assert info.type == LinkType.NETFILTER
        assert info.target == {"pf": 2, "hooknum": 3, "priority": -10, "flags": 0}
        send_udp("127.0.0.1", UDP_PORT, 7)
        send_udp("127.0.0.1", UDP_PORT + 1, 2)
        assert wait_for(lambda: nf_obj.globals["packets"] == 7)
        assert nf_obj.globals["last_hook"] == NfHook.LOCAL_OUT
        with pytest.raises(BPFError, match="no netfilter hook 9") as exc:
            prog.attach_netfilter(NfProto.IPV4, 9, 10)
        assert exc.value.errno == errno.EPROTO
        link.destroy()
        send_udp("127.0.0.1", UDP_PORT, 3)
    assert nf_obj.globals["packets"] == 7
    # The hook was the namespace's: the host's traffic never reached it.


# -- probes --------------------------------------------------------------------------

@pytest.mark.parametrize("name, function", [
    ("tcx", "bpf_program__attach_tcx"), ("netkit", "bpf_program__attach_netkit"),
    ("netfilter", "bpf_program__attach_netfilter"),
    ("uprobe_multi", "bpf_program__attach_uprobe_multi"),
    ("sockmap_link", "bpf_program__attach_sockmap"),
    ("raw_tracepoint_cookie", "bpf_raw_tracepoint_open_opts"),
    ("token", "bpf_token_create"), ("streams", "bpf_prog_stream_read"),
    ("exclusive_maps", "bpf_map__set_exclusive_program"),
    ("struct_ops_association", "bpf_prog_assoc_struct_ops"),
])
def test_probes_of_newer_features_name_the_libbpf_they_need(name, function):
    feature = getattr(probe, name)()
    if not raw.is_available(function):
        assert not feature
        assert feature.reason == (f"libbpf {raw.version} has no {function}() (needs "
                                  f"libbpf >= {raw._since(function)})")
    else:
        assert "libbpf" not in feature.reason  # the kernel answered
    listed = {f.name for f in probe.attach_kinds() + probe.bpf_features()}
    assert feature.name in listed


def test_probe_cli_lists_the_new_link_kinds_and_features():
    res = subprocess.run([sys.executable, "-m", "libbpfpy", "probe", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    import json
    d = json.loads(res.stdout)
    kinds = {k["kind"]: k for k in d["attach_kinds"]}
    features = {f["feature"]: f for f in d["features"]}
    for f in probe.link_kinds():
        assert kinds[f.name] == {"kind": f.name, "supported": bool(f), "reason": f.reason}
    for f in probe.bpf_features():
        assert features[f.name]["supported"] == bool(f)
    assert d["system"]["libbpf"] == raw.version
    assert os.path.samefile(d["system"]["libbpf_path"], raw.library_file())


# -- uprobe_multi --------------------------------------------------------------------

@pytest.fixture
def um_obj(bpf_object_path):
    with Object.open(bpf_object_path("uprobe_multi")) as obj:
        if raw.is_available("bpf_program__attach_uprobe_multi"):
            obj.load()
        yield obj


def _held_target(binary: str, rounds: int) -> subprocess.Popen[str]:
    """The helper binary, started but waiting for a line on stdin."""
    return subprocess.Popen([binary, str(rounds)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _release(child: subprocess.Popen[str], rounds: int) -> None:
    out, _ = child.communicate("go\n", timeout=30)
    assert child.returncode == 0
    # alpha(r)+1, 2 x beta(r)+10, 3 x gamma(r)+100, other(r), per round r
    assert int(out) == sum(7 * r + 321 for r in range(rounds))


def test_uprobe_multi_on_several_functions_with_cookies(um_obj, c_binary):
    prog = um_obj.programs["um_entry"]
    binary = c_binary("multi_target")
    if refused_by_old_libbpf("bpf_program__attach_uprobe_multi",
                             lambda: prog.attach_uprobe_multi(binary, "mt_*")):
        return
    skip_unless(probe.uprobe_multi())
    child = _held_target(binary, 3)
    other = _held_target(binary, 5)
    try:
        link = prog.attach_uprobe_multi(binary, syms=["mt_alpha", "mt_beta", "mt_gamma"],
                                        cookies=[100, 200, 300], pid=child.pid)
        info = link.info()
        assert info.type == LinkType.UPROBE_MULTI
        assert info.target["count"] == 3 and info.target["pid"] == child.pid
        assert os.path.samefile(info.target["path"], binary)
    finally:
        _release(child, 3)
        _release(other, 5)   # another process: pid= keeps it out
    counts = dict(um_obj.maps["by_cookie"].items())
    assert counts == {100: 3, 200: 6, 300: 9}
    link.destroy()


def test_uprobe_multi_by_pattern_and_on_returns(um_obj, c_binary):
    entry, ret = um_obj.programs["um_entry"], um_obj.programs["um_return"]
    binary = c_binary("multi_target")
    if refused_by_old_libbpf("bpf_program__attach_uprobe_multi",
                             lambda: ret.attach_uprobe_multi(binary, "mt_*", retprobe=True)):
        return
    skip_unless(probe.uprobe_multi())
    child = _held_target(binary, 2)
    try:
        with entry.attach_uprobe_multi(binary, "mt_*", pid=child.pid), \
                ret.attach_uprobe_multi(binary, "mt_*", retprobe=True, pid=child.pid):
            _release(child, 2)
    except BaseException:
        child.kill()
        raise
    # a pattern has no cookies: every hit counts under 0; other_function not matched
    assert dict(um_obj.maps["by_cookie"].items()) == {0: 12}
    assert um_obj.globals["returns"] == 12
    assert um_obj.globals["returned_sum"] == sum(7 * r + 321 - r for r in range(2))


def test_uprobe_multi_argument_errors(um_obj, c_binary, tmp_path):
    prog = um_obj.programs["um_entry"]
    binary = c_binary("multi_target")
    if refused_by_old_libbpf("bpf_program__attach_uprobe_multi",
                             lambda: prog.attach_uprobe_multi(binary, "mt_*")):
        return
    with pytest.raises(ValueError, match="exactly one"):
        prog.attach_uprobe_multi(binary)
    with pytest.raises(ValueError, match="one to one"):
        prog.attach_uprobe_multi(binary, syms=["mt_alpha"], cookies=[1, 2])
    with pytest.raises(ValueError, match="need syms or offsets"):
        prog.attach_uprobe_multi(binary, "mt_*", cookies=[1])
    skip_unless(probe.uprobe_multi())
    with pytest.raises(BPFError, match="does not exist"):
        prog.attach_uprobe_multi(tmp_path / "missing", "mt_*")
    with pytest.raises(BPFError, match="no matching function"):
        prog.attach_uprobe_multi(binary, "no_such_fn_*")


# -- sockmap -------------------------------------------------------------------------

def test_sockmap_link_passes_stream_data_through_its_verdict(bpf_object_path, netns_factory):
    with Object.open(bpf_object_path("sockmap")) as obj:
        obj.load()
        prog, smap = obj.programs["verdict"], obj.maps["sock_map"]
        if refused_by_old_libbpf("bpf_program__attach_sockmap",
                                 lambda: prog.attach_sockmap(smap)):
            return
        skip_unless(probe.sockmap_link())
        ns = netns_factory()
        with ns.inside():
            server = socket.create_server(("127.0.0.1", 0))
            client = socket.create_connection(server.getsockname())
            conn, _ = server.accept()
        try:
            link = prog.attach_sockmap(smap)
            info = link.info()
            assert info.type == LinkType.SOCKMAP
            assert info.attach_type == AttachType.SK_SKB_STREAM_VERDICT
            assert info.target["map_id"] == smap.info().id
            smap[0] = conn.fileno()
            client.sendall(b"x" * 1000)
            got = b""
            conn.settimeout(5)
            while len(got) < 1000:
                got += conn.recv(4096)
            assert got == b"x" * 1000
            assert obj.globals["bytes"] == 1000 and obj.globals["calls"] >= 1
            link.destroy()
            # A socket added once the link is gone gets no verdict program (those
            # added before keep the one they were given).
            with ns.inside():
                client2 = socket.create_connection(server.getsockname())
                conn2, _ = server.accept()
            with client2, conn2:
                smap[1] = conn2.fileno()
                client2.sendall(b"y" * 10)
                conn2.settimeout(5)
                assert conn2.recv(4096) == b"y" * 10
            assert obj.globals["bytes"] == 1000
        finally:
            for s in (client, conn, server):
                s.close()


# -- raw tracepoint cookie -------------------------------------------------------------

def test_raw_tracepoint_cookie_reaches_the_program(bpf_object_path):
    if not raw.is_available("bpf_program__attach_raw_tracepoint_opts"):
        # an older libbpf refuses by name, whatever the program (core_trace's loads on
        # every kernel; raw_tp_cookie's calls bpf_get_attach_cookie, Linux >= 6.10)
        with Object.open(bpf_object_path("core_trace")) as obj:
            obj.load()
            prog = obj.programs["raw_sys_enter"]
            assert refused_by_old_libbpf("bpf_program__attach_raw_tracepoint_opts",
                                         lambda: prog.attach_raw_tracepoint(
                                             "sys_enter", cookie=0xBEEF))
        return
    skip_unless(probe.raw_tracepoint_cookie())
    with Object.open(bpf_object_path("raw_tp_cookie")) as obj:
        obj.load()
        prog = obj.programs["on_enter"]
        obj.globals["target_pid"] = os.getpid()
        with prog.attach_raw_tracepoint("sys_enter", cookie=0xBEEF) as link:
            os.getppid()
            assert obj.globals["hits"] > 0 and obj.globals["cookie_seen"] == 0xBEEF
            assert link.info().target == {"tp_name": "sys_enter", "cookie": 0xBEEF}
