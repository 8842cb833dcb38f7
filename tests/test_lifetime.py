"""Lifetimes (DESIGN section 2): close is idempotent, use after close raises
ClosedError, dependants close first, and the garbage-collector safety net counts
every resource it has to release."""
from __future__ import annotations

import gc
import os
import warnings

import pytest

from libbpfpy import ClosedError, MapHandle, Object, _lifetime, inventory
from libbpfpy.tc import TcHook

pytestmark = pytest.mark.root


def fd_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


@pytest.fixture
def restore_leaks():
    """Let a test make the safety net fire, then put the counter back so the
    suite-wide leak check judges only real leaks."""
    saved = dict(_lifetime.leaks)
    yield
    _lifetime.leaks.clear()
    _lifetime.leaks.update(saved)


def test_leak_counter_counts_an_unclosed_map_handle(restore_leaks):
    before = _lifetime.leaks["map handle"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = MapHandle.create("hash", 4, 4, 4)
        fd = h.fd
        del h
        gc.collect()
    assert _lifetime.leaks["map handle"] == before + 1
    assert fd_closed(fd)  # the net released it
    assert any(issubclass(w.category, ResourceWarning) and "map handle" in str(w.message)
               for w in caught)


def test_leak_counter_counts_an_unclosed_object_and_its_links(restore_leaks,
                                                              bpf_object_path):
    before = dict(_lifetime.leaks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        obj = Object.open(bpf_object_path("core_trace"))
        obj.load()
        link = obj.programs["tp_getppid"].attach()
        fds = [obj.programs["tp_getppid"].fd, link.fd, obj.maps["hits"].fd]
        link_id = link.id
        del obj, link
        gc.collect()
    assert _lifetime.leaks["object"] == before.get("object", 0) + 1
    assert _lifetime.leaks["link"] == before.get("link", 0) + 1
    assert all(fd_closed(fd) for fd in fds)
    assert link_id not in set(inventory.link_ids())


def test_closed_objects_do_not_count_as_leaks(bpf_object_path):
    before = dict(_lifetime.leaks)
    obj = Object.open(bpf_object_path("core_trace"))
    obj.load()
    obj.programs["tp_getppid"].attach()
    obj.close()
    del obj
    gc.collect()
    assert dict(_lifetime.leaks) == before


def test_views_keep_their_object_alive(bpf_object_path):
    prog = Object.open(bpf_object_path("basic")).load().programs["count_first"]
    gc.collect()
    assert prog.loaded and prog.fd > 0  # the object lives on through its program
    elems = prog.object.maps["elems"]
    elems[1] = 2
    prog.object.close()
    with pytest.raises(ClosedError):
        elems[1]


def test_every_wrapper_is_idempotent_and_closed_after_close(bpf_object_path,
                                                            netns_factory):
    obj = Object.open(bpf_object_path("core_trace"))
    obj.load()
    link = obj.programs["tp_getppid"].attach()
    prog_h = inventory.open_program(obj.programs["tp_getppid"].info().id)
    btf_h = inventory.open_btf(obj.programs["tp_getppid"].info().btf_id)
    stats = inventory.enable_stats()
    ns = netns_factory()
    with ns.inside():
        tc = TcHook("lo")
    map_h = MapHandle.create("array", 4, 4, 1)
    things = {
        "object": (obj, obj.load),
        "link": (link, link.info),
        "program handle": (prog_h, prog_h.info),
        "btf handle": (btf_h, btf_h.info),
        "stats": (stats, lambda: stats.fd),
        "tc hook": (tc, tc.create),
        "map handle": (map_h, map_h.info),
    }
    for name, (thing, use) in things.items():
        thing.close()
        thing.close()
        assert thing.closed, name
        with pytest.raises(ClosedError):
            use()
        with pytest.raises(ClosedError):
            with thing:
                pass


def test_object_close_closes_links_first(bpf_object_path):
    obj = Object.open(bpf_object_path("core_trace"))
    obj.load()
    links = [obj.programs["tp_getppid"].attach(),
             obj.programs["raw_sys_enter"].attach_raw_tracepoint("sys_enter")]
    fds = [link.fd for link in links]
    obj.close()
    assert all(link.closed for link in links)
    assert all(fd_closed(fd) for fd in fds)
    for link in links:
        link.destroy()  # fine after the object closed them


def test_link_closed_independently_of_its_object(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as obj:
        obj.load()
        link = obj.programs["tp_getppid"].attach()
        link.close()
        assert obj.programs["tp_getppid"].links == []
    assert link.closed
