"""TC: TcHook on loopback and veth in throwaway network namespaces, with real
packets counted by the attached program."""
from __future__ import annotations

import errno
import subprocess

import pytest

from conftest import send_udp, wait_for
from libbpfpy import BPFError, ClosedError, Object
from libbpfpy.enums import TcAttachPoint
from libbpfpy.tc import TcFilter, TcHook

pytestmark = pytest.mark.root

UDP_PORT = 4792
PKT_TC = 1


def qdiscs(ns, dev: str) -> str:
    return ns.ip("-d", "link", "show", dev) + subprocess.run(
        ["ip", "netns", "exec", ns.name, "tc", "qdisc", "show", "dev", dev],
        capture_output=True, text=True).stdout


def test_tc_ingress_on_loopback_counts_packets(net_obj, netns_factory):
    ns = netns_factory()
    prog = net_obj.programs["tc_count"]
    with ns.inside():
        with TcHook("lo", "ingress") as hook:
            f = hook.attach(prog)
            assert isinstance(f, TcFilter)
            assert f.prog_id == prog.info().id and f.handle and f.priority
            assert hook.query() == f
            assert hook.query(f.handle, f.priority).prog_id == f.prog_id
            assert "clsact" in qdiscs(ns, "lo")
            send_udp("127.0.0.1", UDP_PORT, 8)
            assert wait_for(lambda: net_obj.maps["pkts"][PKT_TC] == 8)
            hook.detach(f)
            assert hook.filters == []
            send_udp("127.0.0.1", UDP_PORT, 3)
            assert net_obj.maps["pkts"][PKT_TC] == 8
            with pytest.raises(BPFError) as info:
                hook.query(f.handle, f.priority)
            assert info.value.errno == errno.ENOENT
        # leaving the with removed the qdisc this hook created
        assert "clsact" not in qdiscs(ns, "lo")
    assert hook.closed


def test_tc_egress_on_a_veth(net_obj, veth_pair):
    ns_a, ns_b = veth_pair
    with ns_a.inside():
        hook = TcHook("va", "egress").create()
        assert hook.attach_point is TcAttachPoint.EGRESS
        hook.attach(net_obj.programs["tc_count"], handle=7, priority=3)
        assert hook.query(7, 3).prog_id == net_obj.programs["tc_count"].info().id
        send_udp("10.77.0.2", UDP_PORT, 6)
        send_udp("10.77.0.2", UDP_PORT + 1, 2)
    assert wait_for(lambda: net_obj.maps["pkts"][PKT_TC] == 6)
    with ns_a.inside():
        with pytest.raises(BPFError, match="pass replace=True"):
            hook.attach(net_obj.programs["tc_count"], handle=7, priority=3)
        hook.attach(net_obj.programs["tc_count"], handle=7, priority=3, replace=True)
        hook.destroy()  # the whole qdisc, filters included
        assert "clsact" not in qdiscs(ns_a, "va")
        with pytest.raises(BPFError, match="no clsact qdisc"):
            hook.attach(net_obj.programs["tc_count"])
        with pytest.raises(BPFError, match="no clsact qdisc to destroy"):
            hook.destroy()
        hook.close()
        hook.close()
    with pytest.raises(ClosedError):
        hook.attach(net_obj.programs["tc_count"])


def test_tc_hook_leaves_an_existing_qdisc(net_obj, netns_factory):
    ns = netns_factory()
    subprocess.run(["ip", "netns", "exec", ns.name, "tc", "qdisc", "add", "dev", "lo",
                    "clsact"], check=True)
    with ns.inside():
        with TcHook("lo", "egress") as hook:
            hook.attach(net_obj.programs["tc_count"])
        assert "clsact" in qdiscs(ns, "lo")  # not ours to remove
        with TcHook(1, "egress") as hook:  # by index; the filter above was detached
            with pytest.raises(ValueError, match="give handle and priority"):
                hook.query()


def test_tc_argument_errors(net_obj):
    with pytest.raises(BPFError, match="no network interface 'nope0'") as info:
        TcHook("nope0")
    assert info.value.errno == errno.ENODEV
    with pytest.raises(ValueError, match="'ingress' or 'egress'"):
        TcHook("lo", "sideways")
    with pytest.raises(ValueError, match="custom"):
        TcHook("lo", TcAttachPoint.CUSTOM)
    hook = TcHook("lo")
    with pytest.raises(ValueError, match="give both"):
        hook.query(handle=1)
    with pytest.raises(ValueError, match="16 bits"):
        hook.attach(net_obj.programs["tc_count"], priority=70000)
    hook.close()


def test_tc_attach_unloaded_program(bpf_object_path, netns_factory):
    ns = netns_factory()
    with Object.open(bpf_object_path("core_net")) as obj, ns.inside(), TcHook("lo") as hook:
        with pytest.raises(BPFError, match="not loaded"):
            hook.attach(obj.programs["tc_count"])
