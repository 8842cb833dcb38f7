"""Kernel inventory: programs, maps, links and BTF objects walked by id, opened by
id, and their information."""
from __future__ import annotations

import errno
import os
import time
import uuid

import pytest

from conftest import run_unprivileged, wait_for
from libbpfpy import (
    BPFError,
    BTFInfo,
    LinkType,
    MapHandle,
    Object,
    ProgramHandle,
    ProgramInfo,
    ProgType,
    fs,
    inventory,
)
from libbpfpy._lifetime import fd_kind

pytestmark = pytest.mark.root


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as o:
        o.load()
        yield o


def test_program_info(obj):
    prog = obj.programs["tp_getppid"]
    info = prog.info()
    assert isinstance(info, ProgramInfo)
    assert info.name == "tp_getppid"
    assert info.type is ProgType.TRACEPOINT
    assert len(info.tag) == 16 and int(info.tag, 16) >= 0
    ids = {obj.maps[n].id for n in ("cfg_map", "hits", "calls")}
    assert ids <= set(info.map_ids)
    assert obj.maps["seen"].id not in info.map_ids  # a map it does not use
    assert info.btf_id > 0
    uptime_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    assert 0 < uptime_ns - info.load_time_ns < 300 * 10**9
    assert info.created_by_uid == os.getuid()
    assert info.gpl_compatible
    assert info.xlated_size >= 8 and info.jited_size > 0
    assert info.verified_insns > 0
    assert info.ifindex == 0


def test_walk_programs_maps_links_btfs(obj):
    link = obj.programs["tp_getppid"].attach()
    prog_id = obj.programs["tp_getppid"].info().id
    assert prog_id in list(inventory.program_ids())
    ids = list(inventory.program_ids())
    assert ids == sorted(ids)
    progs = {p.id: p for p in inventory.programs()}
    assert progs[prog_id].name == "tp_getppid"
    assert obj.programs["raw_sys_enter"].info().id in progs
    maps = {m.id: m for m in inventory.maps()}
    assert maps[obj.maps["hits"].id].name == "hits"
    assert obj.maps["calls"].id in set(inventory.map_ids())
    links = {li.id: li for li in inventory.links()}
    assert links[link.id].prog_id == prog_id
    assert link.id in set(inventory.link_ids())
    btfs = list(inventory.btfs())
    assert all(isinstance(b, BTFInfo) for b in btfs)
    vmlinux = [b for b in btfs if b.name == "vmlinux"]
    assert len(vmlinux) == 1 and vmlinux[0].kernel and vmlinux[0].size > 1 << 20
    mine = [b for b in btfs if b.id == progs[prog_id].btf_id]
    assert len(mine) == 1 and not mine[0].kernel
    assert set(inventory.btf_ids()) >= {b.id for b in btfs}
    link.destroy()


def test_unloaded_programs_leave_the_inventory(bpf_object_path):
    with Object.open(bpf_object_path("basic")) as o:
        o.load()
        prog_id = o.programs["count_first"].info().id
        map_id = o.maps["elems"].id
    assert wait_for(lambda: prog_id not in set(inventory.program_ids()))
    assert wait_for(lambda: map_id not in set(inventory.map_ids()))


def test_open_by_id(obj):
    prog = obj.programs["raw_sys_enter"]
    with inventory.open_program(prog.info().id) as handle:
        assert isinstance(handle, ProgramHandle)
        assert fd_kind(handle.fd) == "prog" and handle.fd != prog.fd
        assert handle.info() == prog.info()
        assert handle.id == prog.info().id
        assert "program id" in repr(handle)
    assert handle.closed and "closed" in repr(handle)
    with inventory.open_map(obj.maps["hits"].id) as m:
        assert isinstance(m, MapHandle)
        m[3] = 33
    assert obj.maps["hits"][3] == 33
    link = prog.attach_raw_tracepoint("sys_enter")
    with inventory.open_link(link.id) as same:
        assert same.info().type == LinkType.RAW_TRACEPOINT
    link.destroy()
    btf_id = prog.info().btf_id
    with inventory.open_btf(btf_id) as btf:
        assert fd_kind(btf.fd) == "btf"
        assert btf.info().id == btf_id


def test_open_missing_ids():
    for opener in (inventory.open_program, inventory.open_map, inventory.open_link,
                   inventory.open_btf):
        with pytest.raises(BPFError) as info:
            opener(0x7FFFFFF0)
        assert info.value.errno == errno.ENOENT


def test_program_handle_pin_from_pin_from_fd(obj):
    fs.mount_bpffs()
    path = os.path.join(fs.BPFFS, f"libbpfpy-inv-{uuid.uuid4().hex[:8]}")
    prog = obj.programs["tp_getppid"]
    with ProgramHandle.from_fd(prog.fd) as h:
        h.pin(path)
    try:
        with ProgramHandle.from_pin(path) as again:
            assert again.info().name == "tp_getppid"
    finally:
        os.unlink(path)
    obj.maps["hits"].pin(path)
    try:
        with pytest.raises(BPFError, match="is not a BPF program \\(it is map\\)"):
            ProgramHandle.from_pin(path)
    finally:
        os.unlink(path)
    r, w = os.pipe()
    try:
        with pytest.raises(BPFError, match="not a BPF object"):
            ProgramHandle.from_fd(r)
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(BPFError) as info:
        ProgramHandle.from_fd(98765)
    assert info.value.errno == errno.EBADF


def test_enable_stats_counts_runs(bpf_object_path):
    from test_program import udp_packet
    with Object.open(bpf_object_path("core_net")) as o:
        o.load()
        prog = o.programs["xdp_count"]
        with inventory.enable_stats():
            before = prog.info().run_count
            prog.test_run(udp_packet(), repeat=10)
            info = prog.info()
            assert info.run_count - before == 10
            assert info.run_time_ns > 0


def test_inventory_needs_privileges():
    res = run_unprivileged(
        "from libbpfpy import inventory, PermissionDeniedError\n"
        "try:\n"
        "    list(inventory.program_ids())\n"
        "except PermissionDeniedError as exc:\n"
        "    print('PERM', exc)\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("PERM bpf_prog_get_next_id() failed: Operation not "
                                 "permitted")
    assert "CAP_BPF" in res.stdout
