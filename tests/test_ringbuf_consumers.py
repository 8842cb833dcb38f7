"""Ring buffer consumers (issue 12, items 10-12): stop() from a callback stops the
thread, a ring has one consumer per process, and records a program could not put in
a full ring are counted (libbpfpy/ringbuf.h) and reported as RingBuffer.lost."""
from __future__ import annotations

import ctypes
import errno
import threading

import pytest

from conftest import wait_for
from libbpfpy import BPFError, MapHandle, Object, RingBuffer
from ringbuf_types import Args, Event

pytestmark = pytest.mark.root


class FillArgs(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32), ("failed", ctypes.c_uint32)]


def produce(obj: Object, count: int, seq: int = 0) -> None:
    a = Args(ring=0, count=count, size=24, size_step=0, discard_every=0, seq=seq)
    assert obj.programs["produce"].test_run(ctx=a).retval == 0
    assert a.produced == count


def test_stop_inside_the_callback_stops_the_thread(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as obj:
        obj.load()
        got: list[int] = []
        holder: dict[str, RingBuffer] = {}

        def callback(ev: Event) -> None:
            got.append(ev.seq)
            if len(got) == 5:
                holder["rb"].stop()     # from the buffer's own thread

        with RingBuffer(obj.maps["small"], callback, event_type=Event) as rb:
            holder["rb"] = rb
            produce(obj, 40)
            rb.start()
            assert wait_for(lambda: not rb.running, timeout=5)
            assert got == [0, 1, 2, 3, 4]     # not one callback more
            rb.stop()                          # joins the ended thread: no error
            # nothing lost: the rest comes with the next consumption
            rest = []
            while True:
                ev = rb.read(timeout=0)
                if ev is None:
                    break
                rest.append(ev.seq)
            assert rest == list(range(5, 40))
            # and the thread can be started again
            got.clear()
            produce(obj, 3, seq=100)
            rb.start()
            assert wait_for(lambda: len(got) == 3, timeout=5)
            rb.stop()
            assert got == [100, 101, 102]


def test_a_second_consumer_of_a_ring_is_refused(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as obj:
        obj.load()
        first = RingBuffer(obj.maps["small"])
        try:
            with pytest.raises(BPFError) as info:
                RingBuffer(obj.maps["small"])
            assert info.value.errno == errno.EBUSY
            assert "already read by" in str(info.value)
            # the same map through another fd (by id) is the same ring
            with MapHandle.from_id(obj.maps["small"].id) as again:
                with pytest.raises(BPFError, match="already read by"):
                    RingBuffer(again)
            # other rings can still be added to the first one, or read by others
            with RingBuffer(obj.maps["second"]):
                pass
            produce(obj, 10)
            assert [first.read(timeout=1) for _ in range(10)] != [None] * 10
        finally:
            first.close()
        # once the first is closed, the ring is free again
        with RingBuffer(obj.maps["small"]) as second:
            produce(obj, 2, seq=50)
            assert second.read(timeout=1) is not None


def test_lost_counts_what_a_full_ring_refused(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf_lost")) as obj:
        obj.load()
        with RingBuffer(obj.maps["tiny"]) as rb:
            assert rb.lost == 0
            a = FillArgs(count=40, size=256)
            assert obj.programs["fill"].test_run(ctx=a).retval == 0
            assert a.failed > 0 and a.reserved + a.failed == 40
            assert rb.lost == a.failed          # what the program itself saw fail
            received = 0
            while rb.read(timeout=0) is not None:
                received += 1
            assert received == a.reserved
            b = FillArgs(count=40, size=256)
            obj.programs["fill"].test_run(ctx=b)
            assert rb.lost == a.failed + b.failed


def test_lost_is_none_without_a_counter(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as obj:
        obj.load()
        with RingBuffer(obj.maps["small"]) as rb:
            assert rb.lost is None


def test_examples_and_mmapsnoop_declare_the_counter(bpf_object_path):
    from libbpfpy.tools import source_path
    assert "LIBBPFPY_RINGBUF(events" in open(source_path("mmapsnoop")).read()
    with Object.open(bpf_object_path("hello")) as obj:
        assert "events__lost" in obj.maps


def test_stop_from_another_thread_still_joins(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as obj:
        obj.load()
        seen = threading.Event()
        with RingBuffer(obj.maps["small"], lambda ev: seen.set()) as rb:
            rb.start()
            produce(obj, 1)
            assert seen.wait(5)
            rb.stop(timeout=5)
            assert not rb.running
