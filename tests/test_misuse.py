"""Misuse: wrong inputs and wrong orders give clear exceptions, never a crash or a
leaked fd.  Random sequences of public operations run (under hypothesis) in a
child process, so that a segfault fails the test instead of killing the suite."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from libbpfpy import BPFError, ClosedError, MapHandle, Object

pytestmark = pytest.mark.root


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.slow
def test_200_cycles_leave_fds_unchanged(bpf_object_path):
    path = bpf_object_path("core_trace")
    data = open(path, "rb").read()
    Object.open(path).close()  # warm-up: libbpf caches a few things on first use
    before = open_fds()
    for i in range(200):
        obj = Object.open(path if i % 2 else data, name=None if i % 2 else f"cycle{i}")
        obj.load()
        links = obj.attach()
        assert len(links) == 3
        obj.maps["hits"][0] = i
        if i % 3 == 0:
            links[0].destroy()
        obj.close()
    after = open_fds()
    assert after == before, sorted(after - before)


def test_failed_loads_leave_nothing_behind(bpf_object_path):
    path = bpf_object_path("core_bad")
    before = open_fds()
    for _ in range(20):
        with Object.open(path) as obj:
            with pytest.raises(BPFError):
                obj.load()
            with pytest.raises(BPFError):
                obj.load()
    for _ in range(20):
        with pytest.raises(BPFError):
            Object.open(b"\x7fELF" + os.urandom(300))
    assert open_fds() == before


def test_misuse_in_wrong_orders(bpf_object_path):
    obj = Object.open(bpf_object_path("core_maps"))
    m = obj.maps["hash"]
    prog = obj.programs["write_maps"]
    with pytest.raises(BPFError, match="has no fd"):
        m[1] = 1                      # before load
    with pytest.raises(BPFError, match="not loaded"):
        prog.test_run(ctx=b"\0" * 56)
    with pytest.raises(BPFError, match="not loaded"):
        prog.attach()
    obj.load()
    with pytest.raises(BPFError):
        obj.load()
    with pytest.raises(TypeError):
        m[None] = 1
    with pytest.raises(ValueError):
        m[1] = b"\0" * 9
    with pytest.raises(ValueError):
        m.update_batch([(1, b"\0")])
    with pytest.raises(TypeError):
        obj.maps["queue"][1]
    obj.close()
    for call in (lambda: m[1], prog.attach, obj.load, lambda: prog.test_run(ctx=b"")):
        with pytest.raises(ClosedError):
            call()
    with pytest.raises(BPFError):
        MapHandle.create("hash", 4, 4, 0)  # max_entries 0


STATE_MACHINE = r'''
import errno, os, random, struct, sys, faulthandler, warnings
faulthandler.enable()
warnings.simplefilter("ignore", ResourceWarning)
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
import libbpfpy
from libbpfpy import (BPFError, ClosedError, Link, MapHandle, Object, UpdateFlags,
                      _lifetime)

TRACE, MAPS = sys.argv[1], sys.argv[2]
BLOBS = {"trace": open(TRACE, "rb").read(), "maps": open(MAPS, "rb").read()}
EXPECTED = (BPFError, ClosedError, ValueError, TypeError, KeyError, IndexError,
            OSError, AttributeError)
START_FDS = len(os.listdir("/proc/self/fd"))
# libbpf creates pin directories as needed: keep them in one place, removed at exit
BPF_PINS = f"/sys/fs/bpf/libbpfpy-fuzz-{os.getpid()}"
keys = st.one_of(st.integers(-2**40, 2**40), st.binary(max_size=12), st.none(),
                 st.text(max_size=3), st.floats(allow_nan=False))
values = st.one_of(st.integers(-2**70, 2**70), st.binary(max_size=40),
                   st.lists(st.integers(0, 9), max_size=4))
flags = st.sampled_from([0, 1, 2, 4, 7, 123])


def attempt(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except EXPECTED:
        return None


class Ops(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.objs, self.links, self.handles = [], [], []

    @rule(which=st.sampled_from(["trace", "maps"]), how=st.sampled_from(
        ["path", "bytes", "truncated", "garbage"]))
    def open(self, which, how):
        data = BLOBS[which]
        src = {"path": TRACE if which == "trace" else MAPS, "bytes": data,
               "truncated": data[:random.randrange(1, len(data))],
               "garbage": os.urandom(64)}[how]
        obj = attempt(Object.open, src)
        if obj is not None:
            self.objs.append(obj)

    @precondition(lambda self: self.objs)
    @rule(i=st.integers(0, 9), data=st.data())
    def tweak_before_load(self, i, data):
        obj = self.objs[i % len(self.objs)]
        progs = attempt(lambda: list(obj.programs.values())) or []
        maps = attempt(lambda: list(obj.maps.values())) or []
        for p in progs:
            if data.draw(st.booleans()):
                attempt(setattr, p, "autoload", data.draw(st.booleans()))
            if data.draw(st.booleans()):
                attempt(setattr, p, "log_level", data.draw(st.sampled_from([0, 1, 2, 4])))
            if data.draw(st.booleans()):
                attempt(p.set_type, data.draw(st.integers(0, 40)))
            if data.draw(st.booleans()):
                attempt(setattr, p, "expected_attach_type", data.draw(st.integers(0, 50)))
            if data.draw(st.booleans()):
                attempt(p.set_attach_target, data.draw(st.sampled_from(
                    [None, "sys_enter", "do_nanosleep", "nope", ""])),
                    data.draw(st.sampled_from([0, 0, 1, 99999])))
        for m in maps:
            if data.draw(st.booleans()):
                attempt(setattr, m, "max_entries", data.draw(st.integers(0, 300)))
            if data.draw(st.booleans()):
                attempt(setattr, m, "value_size", data.draw(st.integers(0, 64)))
            if data.draw(st.booleans()):
                attempt(setattr, m, "key_size", data.draw(st.integers(0, 16)))
            if data.draw(st.booleans()):
                attempt(setattr, m, "type", data.draw(st.integers(0, 35)))
            if data.draw(st.booleans()):
                attempt(setattr, m, "flags", data.draw(st.sampled_from([0, 1, 1 << 10])))
            if data.draw(st.booleans()):
                attempt(setattr, m, "autocreate", data.draw(st.booleans()))
            if data.draw(st.booleans()):
                attempt(setattr, m, "pin_path", data.draw(st.sampled_from(
                    [None, os.path.join(os.getcwd(), "pins", "x"),
                     os.path.join(BPF_PINS, "x")])))
            if data.draw(st.booleans()):
                attempt(m.reuse_fd, data.draw(st.integers(-1, 40)))
            if data.draw(st.booleans()) and self.handles:
                attempt(setattr, m, "inner_map", self.handles[0])
            if data.draw(st.booleans()):
                attempt(setattr, m, "initial_value", data.draw(st.binary(max_size=64)))

    @precondition(lambda self: self.objs)
    @rule(i=st.integers(0, 9))
    def load(self, i):
        attempt(self.objs[i % len(self.objs)].load)

    @precondition(lambda self: self.objs)
    @rule(i=st.integers(0, 9), op=st.sampled_from(
        ["attach_all", "pin_maps", "unpin_maps", "pin_progs", "btf", "kversion", "props"]))
    def object_op(self, i, op):
        obj = self.objs[i % len(self.objs)]
        if op == "attach_all":
            self.links += attempt(obj.attach) or []
        elif op == "props":
            for p in attempt(lambda: list(obj.programs.values())) or []:
                for name in ("fd", "type", "expected_attach_type", "insn_count", "log",
                             "instructions", "section", "flags"):
                    attempt(getattr, p, name)
                attempt(p.info)
            for m in attempt(lambda: list(obj.maps.values())) or []:
                for name in ("fd", "initial_value", "pin_path", "is_pinned", "map_extra"):
                    attempt(getattr, m, name)
        else:
            fn = {"pin_maps": lambda: obj.pin_maps("/tmp/libbpfpy-not-bpffs"),
                  "unpin_maps": lambda: obj.unpin_maps(BPF_PINS),
                  "pin_progs": lambda: obj.pin_programs("/tmp/libbpfpy-not-bpffs"),
                  "btf": lambda: obj.btf, "kversion": lambda: obj.kversion}[op]
            attempt(fn)

    @precondition(lambda self: self.objs)
    @rule(i=st.integers(0, 9))
    def close(self, i):
        self.objs[i % len(self.objs)].close()

    @precondition(lambda self: self.objs)
    @rule(i=st.integers(0, 9), j=st.integers(0, 9),
          kind=st.sampled_from(["auto", "raw", "tp", "xdp", "iter", "perf", "uprobe"]))
    def attach(self, i, j, kind):
        obj = self.objs[i % len(self.objs)]
        progs = attempt(lambda: list(obj.programs.values())) or []
        if not progs:
            return
        p = progs[j % len(progs)]
        fn = {"auto": p.attach,
              "raw": lambda: p.attach_raw_tracepoint("sys_enter"),
              "tp": lambda: p.attach_tracepoint("syscalls", "sys_enter_getppid"),
              "xdp": lambda: p.attach_xdp(1),
              "iter": p.attach_iter,
              "perf": lambda: p.attach_perf_event(0),
              "uprobe": lambda: p.attach_uprobe("/bin/true", func_name="main")}[kind]
        link = attempt(fn)
        if link is not None:
            self.links.append(link)

    @precondition(lambda self: self.links)
    @rule(i=st.integers(0, 9), op=st.sampled_from(
        ["destroy", "info", "detach", "pin", "unpin", "read", "update", "from_id"]))
    def link_op(self, i, op):
        link = self.links[i % len(self.links)]
        if op == "update":
            for obj in self.objs:
                for p in attempt(lambda: list(obj.programs.values())) or []:
                    attempt(link.update_program, p)
                    return
        if op == "from_id":
            other = attempt(lambda: Link.from_id(link.id))
            if other is not None:
                other.close()
            return
        fn = {"destroy": link.destroy, "info": link.info, "detach": link.detach,
              "pin": lambda: link.pin("/tmp/not-bpffs-link"), "unpin": link.unpin,
              "read": link.read}[op]
        attempt(fn)

    def _maps(self):
        out = list(self.handles)
        for obj in self.objs:
            out += attempt(lambda: list(obj.maps.values())) or []
        return out

    @rule(i=st.integers(0, 99), op=st.sampled_from(
        ["get", "set", "del", "pop", "push", "peek", "iter", "len", "batch", "upd_batch",
         "del_batch", "freeze", "info", "next", "and_delete", "contains", "inner"]),
        key=keys, value=values, fl=flags)
    def map_op(self, i, op, key, value, fl):
        maps = self._maps()
        if not maps:
            return
        m = maps[i % len(maps)]
        fn = {"get": lambda: m[key], "set": lambda: m.update(key, value, fl),
              "del": lambda: m.delete(key), "pop": m.pop, "push": lambda: m.push(value, flags=fl),
              "peek": m.peek, "iter": lambda: list(m.items()), "len": lambda: len(m),
              "batch": lambda: m.lookup_batch(chunk=1 + fl), "upd_batch":
              lambda: m.update_batch([(key, value)], flags=fl),
              "del_batch": lambda: m.delete_batch([key]), "freeze": m.freeze,
              "info": m.info, "next": lambda: m.next_key(key), "and_delete":
              lambda: m.lookup_and_delete(key), "contains": lambda: key in m,
              "inner": lambda: m.inner(key)}[op]
        res = attempt(fn)
        if isinstance(res, MapHandle):
            res.close()

    @rule(t=st.sampled_from(["hash", "array", "queue", "stack", "bloom_filter", "lru_hash",
                             "percpu_array", "lpm_trie", "hash_of_maps", "ringbuf", 999]),
          k=st.integers(0, 16), v=st.integers(0, 64), n=st.integers(0, 4096),
          fl=st.sampled_from([0, 1, 1 << 10]))
    def create(self, t, k, v, n, fl):
        inner = self.handles[0] if self.handles and t == "hash_of_maps" else None
        h = attempt(MapHandle.create, t, k, v, n, flags=fl, inner_map=inner)
        if h is not None:
            self.handles.append(h)

    @precondition(lambda self: self.handles)
    @rule(i=st.integers(0, 9))
    def close_handle(self, i):
        self.handles[i % len(self.handles)].close()

    @precondition(lambda self: self.objs)
    @rule(i=st.integers(0, 9), j=st.integers(0, 9), data=st.binary(max_size=80))
    def test_run(self, i, j, data):
        obj = self.objs[i % len(self.objs)]
        progs = attempt(lambda: list(obj.programs.values())) or []
        if progs:
            p = progs[j % len(progs)]
            attempt(p.test_run, ctx=data)
            attempt(p.test_run, data)

    def teardown(self):
        for link in self.links:
            link.close()
        for h in self.handles:
            h.close()
        for obj in self.objs:
            obj.close()
        machines.assert_nothing_left(START_FDS)


import shutil
import machines
try:
    machines.run(Ops, examples_env="LIBBPFPY_FUZZ_EXAMPLES", examples=60, steps=25)
finally:
    shutil.rmtree(BPF_PINS, ignore_errors=True)
'''


@pytest.mark.slow
def test_random_sequences_never_crash(bpf_object_path, tmp_path):
    script = tmp_path / "ops.py"
    script.write_text(textwrap.dedent(STATE_MACHINE))
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'tests'}")
    res = subprocess.run([sys.executable, str(script), bpf_object_path("core_trace"),
                          bpf_object_path("core_maps")], capture_output=True, text=True,
                         timeout=900, env=env, cwd=tmp_path)
    assert res.returncode == 0, (f"exit {res.returncode} (negative: killed by signal)\n"
                                 + res.stdout[-3000:] + res.stderr[-6000:])
