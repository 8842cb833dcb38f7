"""RingBuffer: records produced deterministically by a `syscall` program (test_run)
and read back by every consumption style, byte for byte."""
from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import select
import signal
import struct
import threading
import time

import pytest

from libbpfpy import BPFError, ClosedError, Object, RingBuffer
from libbpfpy import ringbuf as ringbuf_mod
from ringbuf_types import Args, Event

pytestmark = pytest.mark.root

SMALL = 4 * 4096          # the `small` ring: 4 pages
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2




RINGS = {"small": 0, "big": 1, "second": 2}


def expected(seq: int, size: int) -> bytes:
    """The bytes the program writes for record `seq` of `size` bytes."""
    data = bytearray(((seq * 7 + j) & 0xFF) for j in range(size))
    head = struct.pack("<IIQ8s", seq, size, seq * 1000 + 7, b"evt%d" % (seq % 10))
    for n in (24, 16, 8):
        if size >= n:
            data[:n] = head[:n]
            break
    return bytes(data)


def produce(obj: Object, ring: str, count: int, size: int, *, seq: int = 0, step: int = 0,
            discard_every: int = 0, flags: int = 0) -> Args:
    args = Args(ring=RINGS[ring], count=count, size=size, size_step=step,
                discard_every=discard_every, seq=seq, flags=flags)
    res = obj.programs["produce"].test_run(ctx=args)
    assert res.retval == 0
    return args


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as o:
        o.load()
        yield o


def seqs(events):
    return [ev.seq for ev in events]


# -- ordering, sizes, discards, several rings ------------------------------------------

def test_callback_gets_events_in_order(obj):
    got: list[Event] = []
    with RingBuffer(obj.maps["big"], got.append, event_type=Event) as rb:
        a = produce(obj, "big", 3000, 24)
        assert a.produced == 3000
        total = 0
        while total < 3000:
            n = rb.poll(1.0)
            assert n > 0
            total += n
        assert rb.poll(0) == 0
    assert seqs(got) == list(range(3000))
    assert all(ev.value == ev.seq * 1000 + 7 and ev.size == 24 for ev in got)
    assert got[13].tag == b"evt3"


def test_every_size_1_to_4000_byte_exact_across_wraparounds_of_a_4_page_ring(obj):
    got: list[bytes] = []
    with RingBuffer(obj.maps["small"], got.append) as rb:
        size = 1
        written = 0
        while size <= 4000:
            # As many consecutive sizes as surely fit in the (empty) 16 KiB ring.
            count, room = 0, SMALL
            while size + count <= 4000 and ((size + count + 15) & ~7) <= room:
                room -= (size + count + 15) & ~7
                count += 1
            a = produce(obj, "small", count, size, seq=size, step=1)
            assert (a.produced, a.failed) == (count, 0)
            assert rb.consume() == count
            written += SMALL - room
            size += count
    assert len(got) == 4000
    for i, data in enumerate(got):
        assert data == expected(i + 1, i + 1), f"record of {i + 1} bytes differs"
    assert written > 40 * SMALL  # the ring wrapped around dozens of times


def test_discarded_records_are_skipped(obj):
    got: list[Event] = []
    with RingBuffer(obj.maps["big"], got.append, event_type=Event) as rb:
        a = produce(obj, "big", 1000, 40, discard_every=3)
        assert (a.produced, a.discarded) == (667, 333)
        assert rb.consume() == 667
    assert seqs(got) == [i for i in range(1000) if (i + 1) % 3]


def test_mixed_sizes_and_discards_read_back_exactly(obj):
    got: list[bytes] = []
    with RingBuffer(obj.maps["big"], got.append) as rb:
        produce(obj, "big", 50, 100, step=37, discard_every=4)
        produce(obj, "big", 50, 24, seq=50)
        produce(obj, "big", 50, 4000, seq=100, step=-70, discard_every=5)
        rb.consume()
    want = [expected(i, 100 + 37 * i) for i in range(50) if (i + 1) % 4]
    want += [expected(50 + i, 24) for i in range(50)]
    want += [expected(100 + i, 4000 - 70 * i) for i in range(50) if (i + 1) % 5]
    assert got == want


def test_two_rings_in_one_buffer(obj):
    small: list[Event] = []
    second: list[bytes] = []
    rb = RingBuffer()
    try:
        rb.add(obj.maps["small"], small.append, event_type=Event)
        rb.add(obj.maps["second"], second.append)
        assert [m.name for m in rb.maps] == ["small", "second"]
        produce(obj, "small", 100, 32)
        produce(obj, "second", 50, 24, seq=500)
        assert rb.poll(1.0) == 150
    finally:
        rb.close()
    assert seqs(small) == list(range(100))
    assert second == [expected(500 + i, 24) for i in range(50)]


def test_events_are_copies_unchanged_when_the_ring_is_reused(obj):
    got: list[Event] = []
    with RingBuffer(obj.maps["small"], got.append, event_type=Event) as rb:
        for round_ in range(20):   # 20 x 200 x 32 bytes: the 16 KiB ring is reused
            produce(obj, "small", 200, 24, seq=round_ * 200)
            rb.consume()
    assert seqs(got) == list(range(4000))
    assert [ev.value for ev in got] == [i * 1000 + 7 for i in range(4000)]


# -- read / iteration / read_batch ------------------------------------------------------

def test_read_returns_next_event_or_none(obj):
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        assert rb.read(0) is None
        t0 = time.monotonic()
        assert rb.read(0.2) is None
        assert time.monotonic() - t0 >= 0.19
        produce(obj, "big", 3, 24)
        assert [rb.read(1).seq for _ in range(3)] == [0, 1, 2]
        assert rb.read(0) is None


def test_breaking_out_of_iteration_loses_nothing(obj):
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        produce(obj, "big", 100, 24)
        first = []
        for ev in rb:
            first.append(ev.seq)
            if len(first) == 10:
                break
        assert rb.read(0).seq == 10
        rest = []
        for ev in rb:
            rest.append(ev.seq)
            if ev.seq == 99:
                break
    assert first + [10] + rest == list(range(100))


def test_read_batch_equals_iterator_output(obj):
    import numpy as np  # setup installs numpy: missing, the test fails
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        produce(obj, "big", 2000, 24, discard_every=7)
        produce(obj, "big", 500, 24, seq=5000, step=1)   # longer: truncated to Event
        batch = rb.read_batch()
        assert rb.read_batch().shape == (0,)
        produce(obj, "big", 2000, 24, discard_every=7)
        produce(obj, "big", 500, 24, seq=5000, step=1)
        items = []
        for ev in rb:
            items.append(ev)
            if len(items) == len(batch):
                break
        assert rb.read(0) is None
    assert isinstance(batch, np.ndarray) and batch.dtype.names == ("seq", "size", "value", "tag")
    assert len(batch) == 2000 - 2000 // 7 + 500
    assert batch["seq"].tolist() == [ev.seq for ev in items]
    assert batch["size"].tolist() == [ev.size for ev in items]
    assert batch["value"].tolist() == [ev.value for ev in items]
    assert batch["tag"].tolist() == [ev.tag for ev in items]
    assert batch.tobytes() == b"".join(bytes(ev) for ev in items)


def test_read_batch_max_events_consumes_nothing_twice(obj):
    import numpy  # noqa: F401  (setup installs numpy: missing, the test fails)
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        produce(obj, "big", 1000, 24)
        parts = [rb.read_batch(max_events=300) for _ in range(4)]
        assert [len(p) for p in parts] == [300, 300, 300, 100]
        assert len(rb.read_batch(max_events=0)) == 0
    assert [s for p in parts for s in p["seq"].tolist()] == list(range(1000))


def test_read_batch_after_read_starts_with_the_queued_rest(obj):
    import numpy  # noqa: F401  (setup installs numpy: missing, the test fails)
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        produce(obj, "big", 100, 24)
        assert rb.read(0).seq == 0       # fetched all 100, handed out one
        batch = rb.read_batch()
        assert batch["seq"].tolist() == list(range(1, 100))
        assert rb.read(0) is None


def test_read_batch_waits_up_to_timeout(obj):
    import numpy  # noqa: F401  (setup installs numpy: missing, the test fails)
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        t0 = time.monotonic()
        assert len(rb.read_batch(timeout=0.2)) == 0
        assert time.monotonic() - t0 >= 0.19
        timer = threading.Timer(0.1, produce, (obj, "big", 5, 24))
        timer.start()
        try:
            batch = rb.read_batch(timeout=5)
            # it returned once records came: the first, maybe not all five yet (the
            # producer wakes the reader at each submit; a slow machine shows it)
            seqs = batch["seq"].tolist()
            assert seqs
            while len(seqs) < 5:
                more = rb.read_batch(timeout=5)["seq"].tolist()
                assert more, seqs
                seqs += more
        finally:
            timer.join()
        assert seqs == list(range(5))


def test_read_batch_record_shorter_than_type_raises_and_is_skipped(obj):
    import numpy  # noqa: F401  (setup installs numpy: missing, the test fails)
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        produce(obj, "big", 1, 16)             # shorter than Event (24 bytes)
        produce(obj, "big", 3, 24, seq=1)
        with pytest.raises(ValueError, match="16 bytes is shorter"):
            rb.read_batch()
        assert rb.read_batch()["seq"].tolist() == [1, 2, 3]


def test_short_record_in_callback_path_raises_then_continues(obj):
    got: list[Event] = []
    with RingBuffer(obj.maps["big"], got.append, event_type=Event) as rb:
        produce(obj, "big", 2, 24)
        produce(obj, "big", 1, 8, seq=2)
        produce(obj, "big", 2, 24, seq=3)
        with pytest.raises(ValueError, match="8 bytes is shorter than event_type Event"):
            rb.consume()
        assert rb.consume() == 2
    assert seqs(got) == [0, 1, 3, 4]


def test_read_batch_needs_a_type(obj):
    import numpy  # noqa: F401  (setup installs numpy: missing, the test fails)
    with RingBuffer(obj.maps["big"]) as rb:
        with pytest.raises(TypeError, match="needs an event_type"):
            rb.read_batch()


def test_event_type_by_btf_name(obj):
    with RingBuffer(obj.maps["big"], event_type="event") as rb:
        produce(obj, "big", 2, 24, seq=41)
        a, b = rb.read(1), rb.read(1)
    assert (a.seq, a.size, a.value, bytes(a.tag).rstrip(b"\0")) == (41, 24, 41007, b"evt1")
    assert b.seq == 42
    assert ctypes.sizeof(type(a)) == 24


def test_async_for_reads_events_without_a_thread(obj):
    async def main() -> list[int]:
        out: list[int] = []
        with RingBuffer(obj.maps["big"], event_type=Event) as rb:
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, produce, obj, "big", 10, 24)
            loop.call_later(0.2, functools.partial(produce, obj, "big", 10, 24, seq=10))
            threads = threading.active_count()
            async for ev in rb:
                out.append(ev.seq)
                if len(out) == 20:
                    break
            assert threading.active_count() == threads
        return out

    assert asyncio.run(asyncio.wait_for(main(), 10)) == list(range(20))


def test_async_for_raises_closed_error_when_closed(obj):
    async def main() -> None:
        rb = RingBuffer(obj.maps["big"], event_type=Event)
        asyncio.get_running_loop().call_later(0.1, rb.close)
        with pytest.raises(ClosedError):
            async for _ in rb:
                pass

    asyncio.run(asyncio.wait_for(main(), 10))


def test_epoll_fd_becomes_readable_when_data_arrives(obj):
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        assert rb.fileno() == rb.epoll_fd()
        assert select.select([rb], [], [], 0)[0] == []
        produce(obj, "big", 1, 24)
        assert select.select([rb], [], [], 1)[0] == [rb]
        assert rb.read(0).seq == 0
        assert select.select([rb], [], [], 0)[0] == []


def test_wait_reports_availability_without_consuming(obj):
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        assert rb.wait(0.05) is False
        produce(obj, "big", 1, 24)
        assert rb.wait(0) is True
        assert rb.read(0).seq == 0


@pytest.mark.parametrize("flags", [0, BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP])
def test_poll_returns_when_data_arrives_while_blocked(obj, flags):
    got: list[Event] = []
    with RingBuffer(obj.maps["big"], got.append, event_type=Event) as rb:
        # Records already there are found without any wakeup.
        produce(obj, "big", 5, 24, flags=flags)
        assert rb.poll(0.5) == 5
        timer = threading.Timer(0.1, produce, (obj, "big", 5, 24), {"seq": 5, "flags": flags})
        timer.start()
        try:
            t0 = time.monotonic()
            n = rb.poll(1.0 if flags == BPF_RB_NO_WAKEUP else None)
            took = time.monotonic() - t0
        finally:
            timer.join()
        if flags == BPF_RB_NO_WAKEUP:
            # No wakeup was sent: the poll times out, then finds the records.
            assert n == 0 and took >= 0.95
            assert rb.poll(0) == 5
        else:
            # The wakeup came (well before the 1 s a missing one would take).  The
            # first record's wakeup may end the poll before the program has
            # submitted the other four (a slow guest shows it): they follow.
            assert 1 <= n <= 5 and took < 1.0
            while n < 5:
                more = rb.poll(1.0)
                assert more > 0, f"{n} of 5 records arrived"
                n += more
    assert seqs(got) == list(range(10))


def test_background_thread_calls_the_callback(obj):
    got: list[int] = []
    done = threading.Event()

    def cb(ev: Event) -> None:
        got.append(ev.seq)
        if len(got) == 300:
            done.set()

    with RingBuffer(obj.maps["big"], cb, event_type=Event) as rb:
        rb.start()
        assert rb.running
        with pytest.raises(RuntimeError, match="already started"):
            rb.start()
        for i in range(3):
            produce(obj, "big", 100, 24, seq=100 * i)
        assert done.wait(5)
        rb.stop()
        assert not rb.running
    assert got == list(range(300))


def test_background_thread_error_is_raised_by_stop(obj):
    def cb(ev: Event) -> None:
        raise RuntimeError(f"boom at {ev.seq}")

    with RingBuffer(obj.maps["big"], cb, event_type=Event) as rb:
        rb.start()
        produce(obj, "big", 3, 24)
        deadline = time.monotonic() + 5
        while rb.running and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(RuntimeError, match="boom at 0"):
            rb.stop()
        assert [ev.seq for ev in (rb.read(0), rb.read(0))] == [1, 2]


def test_close_joins_the_background_thread(obj):
    rb = RingBuffer(obj.maps["big"], lambda ev: None)
    rb.start()
    thread = rb._thread
    rb.close()
    assert thread is not None and not thread.is_alive()


# -- failure behaviour --------------------------------------------------------------------

def test_callback_exception_stops_poll_and_nothing_is_lost(obj):
    got: list[int] = []

    def cb(ev: Event) -> None:
        got.append(ev.seq)
        if ev.seq in (10, 500):
            raise KeyError(ev.seq)

    with RingBuffer(obj.maps["big"], cb, event_type=Event) as rb:
        produce(obj, "big", 1000, 24)
        with pytest.raises(KeyError):
            rb.poll(1)
        assert got[-1] == 10                  # the raising event counts as delivered
        with pytest.raises(KeyError):
            rb.consume()
        assert got[-1] == 500
        assert rb.consume() == 499
    assert got == list(range(1000))


def test_close_from_another_thread_wakes_a_blocking_poll(obj):
    rb = RingBuffer(obj.maps["big"], lambda ev: None)
    errors: list[BaseException] = []

    def poller() -> None:
        try:
            rb.poll(None)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=poller)
    t.start()
    time.sleep(0.1)
    rb.close()
    t.join(2)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ClosedError)
    with pytest.raises(ClosedError):
        rb.poll(0)


def test_closing_the_object_wakes_a_blocking_read_and_closes_the_buffer(bpf_object_path):
    obj = Object.open(bpf_object_path("ringbuf"))
    obj.load()
    rb = RingBuffer(obj.maps["big"], event_type=Event)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in rb:
                pass
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    obj.close()
    t.join(2)
    assert not t.is_alive()
    assert rb.closed
    assert len(errors) == 1 and isinstance(errors[0], ClosedError)


def test_close_from_inside_the_callback_ends_the_poll(obj):
    rb = RingBuffer(obj.maps["big"], lambda ev: rb.close(), event_type=Event)
    produce(obj, "big", 10, 24)
    with pytest.raises(ClosedError):
        rb.poll(1)
    assert rb.closed


def test_sigint_during_poll_raises_keyboard_interrupt_and_reader_stays_usable(obj):
    got: list[Event] = []
    with RingBuffer(obj.maps["big"], got.append, event_type=Event) as rb:
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                rb.poll(5)
        finally:
            timer.join()
        produce(obj, "big", 3, 24)
        assert rb.poll(1) == 3
    assert seqs(got) == [0, 1, 2]


def test_sigint_during_delivery_loses_and_repeats_nothing(obj):
    got: list[int] = []

    def cb(ev: Event) -> None:
        got.append(ev.seq)
        if ev.seq == 100:
            signal.raise_signal(signal.SIGINT)

    with RingBuffer(obj.maps["big"], cb, event_type=Event) as rb:
        produce(obj, "big", 1000, 24)
        with pytest.raises(KeyboardInterrupt):
            rb.poll(1)
        rb.consume()
    assert got == list(range(1000))


def test_full_ring_drops_in_the_kernel_and_what_is_read_is_intact(obj):
    got: list[bytes] = []
    with RingBuffer(obj.maps["small"], got.append) as rb:
        a = produce(obj, "small", 200, 200)      # 200 x 208 bytes > 16 KiB
        assert a.failed > 0 and a.produced + a.failed == 200
        assert a.produced == SMALL // 208
        assert rb.consume() == a.produced
        b = produce(obj, "small", 10, 500, seq=1000)   # room again after consuming
        assert b.produced == 10
        rb.consume()
    assert got == [expected(i, 200) for i in range(a.produced)] + \
        [expected(1000 + i, 500) for i in range(10)]


# -- bad input -------------------------------------------------------------------------------

def test_bad_input_gets_clear_errors(obj):
    with pytest.raises(TypeError, match="not a ringbuf.*UserRingBuffer"):
        RingBuffer(obj.maps["requests"])
    with pytest.raises(TypeError, match="callable"):
        RingBuffer(obj.maps["big"], 42)
    with pytest.raises(TypeError, match="ctypes type"):
        RingBuffer(obj.maps["big"], event_type=42)
    with pytest.raises(KeyError, match="no_such_type"):
        RingBuffer(obj.maps["big"], event_type="no_such_type")
    with pytest.raises(TypeError, match="without a map"):
        RingBuffer(callback=print)
    with RingBuffer() as empty:
        with pytest.raises(ValueError, match="no maps"):
            empty.poll(0)
    with RingBuffer(obj.maps["big"]) as rb:
        with pytest.raises(TypeError, match="none was given"):
            rb.poll(0)
        with pytest.raises(ValueError, match="already in this ring buffer"):
            rb.add(obj.maps["big"])
    for call in (lambda: rb.poll(0), lambda: rb.read(0), rb.consume, rb.epoll_fd,
                 lambda: next(iter(rb)), lambda: rb.add(obj.maps["small"])):
        with pytest.raises(ClosedError):
            call()
    rb.close()  # idempotent


def test_unloaded_object_map_has_no_fd(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as o:
        with pytest.raises(BPFError, match="load the object first"):
            RingBuffer(o.maps["big"])


# -- the libbpf fallback (used where plain loads are not ordered enough) -----------------

@pytest.fixture
def via_libbpf(monkeypatch):
    monkeypatch.setattr(ringbuf_mod, "_DIRECT", False)


def test_libbpf_fallback_reads_the_same_records(obj, via_libbpf):
    got: list[bytes] = []
    with RingBuffer(obj.maps["small"], got.append) as rb:
        assert not rb._direct
        for size in range(1, 4001, 13):
            produce(obj, "small", 3, size, seq=size, discard_every=2)
            assert rb.consume() == 2
    want = []
    for size in range(1, 4001, 13):
        want += [expected(size, size), expected(size + 2, size)]
    assert got == want


def test_libbpf_fallback_exceptions_and_batches(obj, via_libbpf):
    import numpy as np  # setup installs numpy: missing, the test fails
    got: list[int] = []

    def cb(ev: Event) -> None:
        got.append(ev.seq)
        if ev.seq == 5:
            raise ValueError("five")

    with RingBuffer(obj.maps["big"], cb, event_type=Event) as rb:
        produce(obj, "big", 20, 24)
        with pytest.raises(ValueError, match="five"):
            rb.poll(1)
        assert rb.read(0).seq == 6
        batch = rb.read_batch()
        assert isinstance(batch, np.ndarray)
        assert batch["seq"].tolist() == list(range(7, 20))
    assert got == list(range(6))



def test_ring_buffer_over_a_map_handle_closes_with_it():
    from libbpfpy import MapHandle, MapType
    handle = MapHandle.create(MapType.RINGBUF, 0, 0, 4 * 4096, name="handle_rb")
    rb = RingBuffer(handle, event_type=Event)
    assert rb.read(0) is None and not rb.wait(0)
    handle.close()
    assert rb.closed
    with pytest.raises(ClosedError):
        rb.read(0)


def test_only_discarded_records_are_not_available(obj):
    with RingBuffer(obj.maps["big"], event_type=Event) as rb:
        produce(obj, "big", 4, 24, discard_every=1)     # every record discarded
        assert rb.wait(0) is False
        assert rb.read(0) is None
        produce(obj, "big", 2, 24, seq=10, discard_every=2)
        assert rb.wait(0) is True
        assert rb.read(0).seq == 10
