"""Close versus calls from another thread, on every owner (issue 12, item 3): a
hypothesis state machine creates objects, BTF, links, ring/perf/user ring buffers and
map handles, and races two operations on one of them from two threads -- any pair,
close included -- in every order and timing hypothesis tries.

Whatever the interleaving: no crash (the machine runs in a child process, so a
signal fails the test), no hang, no exception but ClosedError once an owner is
closed, and nothing leaked at the end.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

pytestmark = pytest.mark.root

MACHINE = r'''
import errno, os, sys, threading, time, faulthandler, warnings
faulthandler.enable()
warnings.simplefilter("ignore", ResourceWarning)
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule
from libbpfpy import (BTF, BPFError, ClosedError, MapHandle, Object, PerfBuffer,
                      RingBuffer, probe)
from libbpfpy.enums import MapType
from libbpfpy.user_ringbuf import UserRingBuffer

PATHS = dict(zip(["maps", "ring", "perf", "trace", "zoo"], sys.argv[1:6]))
START_FDS = len(os.listdir("/proc/self/fd"))
USER_RINGBUF = bool(probe.map_type(MapType.USER_RINGBUF))


def loaded(name):
    obj = Object.open(PATHS[name])
    try:
        obj.load()
    except BaseException:
        obj.close()
        raise
    return obj


class Owned:
    """An owner under test, its operations, and what must be closed at the end."""

    def __init__(self, kind, owner, ops, extra=()):
        self.kind, self.owner, self.ops, self.extra = kind, owner, ops, list(extra)


def make(kind):
    if kind == "object":
        obj = loaded("maps")
        m = obj.maps["hash"]
        ops = {
            "update": lambda: m.update(3, 4),
            "lookup": lambda: m.lookup(3),
            "keys": lambda: list(m.keys()),
            "sizes": lambda: (m.key_size, m.value_size, m.max_entries, m.type),
            "btf_walk": lambda: [obj.btf.type_name(t) for t in list(obj.btf)[:40]],
            "btf_c": lambda: obj.btf.to_c(),
            "progs": lambda: [(p.section, p.fd, p.info().id) for p in obj.programs.values()
                              if p.loaded],
            "globals": lambda: obj.globals.sections(),
            "batch": lambda: m.lookup_batch(chunk=4),
        }
        return Owned(kind, obj, ops)
    if kind == "btf":
        btf = BTF.from_file(PATHS["zoo"])
        ops = {
            "walk": lambda: [btf.describe(t) for t in btf],
            "to_c": lambda: btf.to_c(),
            "types": lambda: [btf.ctypes_type(t) for t in btf.types(4)],
            "format": lambda: [btf.format_value(t, bytes(btf.size_of(t)))
                               for t in btf.types(4)],
            "lookup": lambda: btf.type_id("zoo"),
        }
        return Owned(kind, btf, ops)
    if kind == "link":
        obj = loaded("trace")
        link = obj.programs["tp_getppid"].attach()
        ops = {"info": lambda: link.info(), "fd": lambda: link.fd,
               "pin_path": lambda: link.pin_path, "trigger": lambda: os.getppid()}
        return Owned(kind, link, ops, [obj])
    if kind == "ringbuf":
        obj = loaded("ring")
        rb = RingBuffer(obj.maps["small"], lambda ev: None, event_type="event")
        ops = {"poll": lambda: rb.poll(0.01), "consume": lambda: rb.consume(),
               "read": lambda: rb.read(0), "wait": lambda: rb.wait(0.01),
               "batch": lambda: rb.read_batch(timeout=0),
               "lost": lambda: getattr(rb, "lost", None),
               "thread": lambda: (rb.start(), rb.stop(5))}
        return Owned(kind, rb, ops, [obj])
    if kind == "perfbuf":
        obj = loaded("perf")
        pb = PerfBuffer(obj.maps["samples"], lambda cpu, ev: None, page_count=2)
        ops = {"poll": lambda: pb.poll(0.01), "consume": lambda: pb.consume(),
               "count": lambda: pb.buffer_count, "read": lambda: pb.read(0)}
        return Owned(kind, pb, ops, [obj])
    if kind == "userring" and USER_RINGBUF:
        h = MapHandle.create("user_ringbuf", 0, 0, 4096)
        urb = UserRingBuffer(h)

        def write():
            try:
                urb.write(b"12345678")
            except BPFError as exc:
                if exc.errno != errno.ENOSPC:   # full: nobody drains it here
                    raise
        ops = {"write": write, "reserve": lambda: urb.reserve_blocking(8, 0.01).discard()}
        return Owned(kind, urb, ops, [h])
    h = MapHandle.create("hash", 4, 8, 16)
    ops = {"update": lambda: h.update(1, 2), "lookup": lambda: h.lookup(1),
           "keys": lambda: list(h), "info": lambda: h.info(),
           "batch": lambda: h.lookup_batch(chunk=2)}
    return Owned("maphandle", h, ops)


KINDS = ["object", "btf", "link", "ringbuf", "perfbuf", "userring", "maphandle"]
failures = []


def run(fn):
    """Call fn; return None, or the unexpected exception."""
    try:
        fn()
    except ClosedError:
        pass
    except TimeoutError:
        pass   # a ring's thread stop racing a close
    except BaseException as exc:  # noqa: BLE001 - reported
        return exc
    return None


class Threads(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.pool = []

    @rule(kind=st.sampled_from(KINDS))
    def create(self, kind):
        if len(self.pool) < 4:
            self.pool.append(make(kind))

    @precondition(lambda self: self.pool)
    @rule(i=st.integers(0, 3), a=st.integers(0, 20), b=st.integers(0, 20),
          delay=st.sampled_from([0.0, 0.0, 0.0001, 0.001, 0.003]))
    def race(self, i, a, b, delay):
        owned = self.pool[i % len(self.pool)]
        names = sorted(owned.ops) + ["close"] * 3
        calls = []
        for n in (names[a % len(names)], names[b % len(names)]):
            calls.append((n, owned.owner.close if n == "close" else owned.ops[n]))
        was_closed = owned.owner.closed
        errors = [None, None]
        go = threading.Barrier(2)

        def worker(k, fn, wait):
            go.wait()
            if wait:
                time.sleep(wait)
            errors[k] = run(fn)

        threads = [threading.Thread(target=worker, args=(0, calls[0][1], 0)),
                   threading.Thread(target=worker, args=(1, calls[1][1], delay))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            assert not t.is_alive(), f"{owned.kind}: {calls} hung"
        for (name, _), err in zip(calls, errors):
            assert err is None, f"{owned.kind}.{name} racing {calls}: {err!r}"
        if was_closed or owned.owner.closed:
            for name, fn in owned.ops.items():
                try:
                    fn()
                except ClosedError:
                    continue
                except BaseException as exc:  # noqa: BLE001
                    raise AssertionError(f"{owned.kind}.{name} after close: {exc!r}")
                if name not in ("trigger",):
                    raise AssertionError(f"{owned.kind}.{name} worked after close")

    def teardown(self):
        for owned in self.pool:
            owned.owner.close()
            for e in owned.extra:
                e.close()
        machines.assert_nothing_left(START_FDS)


import machines
machines.run(Threads, examples_env="LIBBPFPY_THREAD_EXAMPLES", examples=40, steps=12)
'''


@pytest.mark.slow
def test_close_and_calls_race_from_two_threads_on_every_owner(bpf_object_path, tmp_path):
    script = tmp_path / "threads.py"
    script.write_text(textwrap.dedent(MACHINE))
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'tests'}")
    res = subprocess.run([sys.executable, str(script)] +
                         [bpf_object_path(n) for n in ("core_maps", "ringbuf", "perfbuf",
                                                       "core_trace", "btf_zoo")],
                         capture_output=True, text=True, timeout=1200, env=env,
                         cwd=tmp_path)
    assert res.returncode == 0, (f"exit {res.returncode} (negative: killed by signal)\n"
                                 + res.stdout[-3000:] + res.stderr[-6000:])
