"""Every way of reading a ring buffer yields the same records as the iterator: in
order, nothing lost, nothing twice -- with the compiled walker, the pure-Python walk
and libbpf's consume; plus zero-copy leases (lease())."""
from __future__ import annotations

import asyncio
import gc
import random
import select
import threading

import pytest

from libbpfpy import ClosedError, Object, RingBuffer
from libbpfpy import ringbuf as ringbuf_mod
from ringbuf_types import Args, Event
from test_ringbuf import RINGS, expected

np = pytest.importorskip("numpy")

pytestmark = pytest.mark.root

SECOND = 1 << 16            # the `second` ring: 64 KiB


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as o:
        o.load()
        yield o


def use_walker(name, monkeypatch):
    """Read rings with the compiled walk (libbpfpy._accel), the pure-Python walk
    (as LIBBPFPY_ACCEL=0 does), or libbpf's ring_buffer__consume (the path of
    architectures without ordered plain loads)."""
    if name == "compiled":
        from conftest import need
        need(ringbuf_mod._load_accel() is not None,
             "libbpfpy._accel is not built (setup.py needs gcc and Python headers)")
        monkeypatch.setattr(ringbuf_mod, "ACCEL", ringbuf_mod._load_accel())
    else:
        monkeypatch.setattr(ringbuf_mod, "ACCEL", None)
    if name == "libbpf":
        monkeypatch.setattr(ringbuf_mod, "_DIRECT", False)
    return name


@pytest.fixture(params=["compiled", "python", "libbpf"])
def walker(request, monkeypatch):
    return use_walker(request.param, monkeypatch)


@pytest.fixture(params=["compiled", "python"])
def direct(request, monkeypatch):
    """Only the walks over the ring's mapping (what zero-copy leases need)."""
    return use_walker(request.param, monkeypatch)


def produce(obj, count, size, *, seq, step=0, discard_every=0):
    a = Args(ring=RINGS["second"], count=count, size=size, size_step=step,
             discard_every=discard_every, seq=seq)
    assert obj.programs["produce"].test_run(ctx=a).retval == 0
    assert a.failed == 0
    return a.produced


def rounds(obj, variable):
    """Produce the stream in rounds that each fit in the 64 KiB ring, wrapping it
    around many times; yields after each round the seqs it made (in order)."""
    seq = 0
    rng = random.Random(7)
    for r in range(24):
        count = rng.randrange(40, 300)
        if variable:
            size, step = 24 + rng.randrange(0, 40), rng.choice((1, 3, 0))
        else:
            size, step = 48, 0
        while sum((size + step * i + 15) & ~7 for i in range(count)) > SECOND * 3 // 4:
            count -= 10         # one round fits in the ring with room to spare
        every = 5 if r % 3 == 0 else 0
        produce(obj, count, size, seq=seq, step=step, discard_every=every)
        made = [seq + i for i in range(count) if not every or (i + 1) % every]
        seq += count
        yield made


# Each style reads `n` events (they are in the ring or arrive soon) and returns their
# seqs; `rb` has event_type=Event.

def by_iterator(rb, n):
    out = []
    for ev in rb:
        out.append(ev.seq)
        if len(out) == n:
            break
    return out


def by_read(rb, n):
    out = []
    while len(out) < n:
        ev = rb.read(2)
        assert ev is not None
        out.append(ev.seq)
    return out


def by_poll(rb, n):
    got: list[int] = []
    rb.sources_callback = got
    while len(got) < n:
        assert rb.poll(2) > 0
    return got


def by_consume(rb, n):
    got: list[int] = []
    rb.sources_callback = got
    while len(got) < n:
        rb.consume()
    return got


def by_read_batch(rb, n):
    out: list[int] = []
    while len(out) < n:
        out += rb.read_batch(timeout=2)["seq"].tolist()
    return out


def by_select(rb, n):
    out: list[int] = []
    while len(out) < n:
        assert select.select([rb], [], [], 2)[0] == [rb]
        out += rb.read_batch()["seq"].tolist()
    return out


def by_lease(rb, n):
    out: list[int] = []
    while len(out) < n:
        with rb.lease(timeout=2) as events:
            out += events["seq"].tolist()
    return out


def by_async(rb, n):
    async def run():
        out = []
        async for ev in rb:
            out.append(ev.seq)
            if len(out) == n:
                break
        return out
    return asyncio.run(run())


def by_thread(rb, n):
    got: list[int] = []
    rb.sources_callback = got
    done = threading.Event()
    rb._rings[0].callback = lambda ev: (got.append(ev.seq), len(got) >= n and done.set())
    rb.start()
    assert done.wait(10)
    rb.stop()
    return got


STYLES = [by_iterator, by_read, by_poll, by_consume, by_read_batch, by_select, by_lease,
          by_async, by_thread]


def reader(obj):
    rb = RingBuffer(obj.maps["second"], event_type=Event)
    rb._rings[0].callback = lambda ev: rb.sources_callback.append(ev.seq)
    return rb


@pytest.mark.parametrize("variable", [False, True], ids=["fixed", "variable"])
@pytest.mark.parametrize("style", STYLES, ids=lambda f: f.__name__[3:])
def test_every_style_reads_what_the_iterator_reads(obj, walker, style, variable):
    want: list[int] = []
    got: list[int] = []
    with reader(obj) as rb:
        for made in rounds(obj, variable):
            want += made
            got += style(rb, len(made))
        assert rb.read_batch().shape == (0,) and rb.read(0) is None
    assert got == want      # in order, nothing lost, nothing twice


def test_styles_mixed_on_one_stream(obj, walker):
    """Switching style from one call to the next (events queued by one style are
    what the next returns first) still gives every record once, in order."""
    rng = random.Random(3)
    want: list[int] = []
    got: list[int] = []
    with reader(obj) as rb:
        for made in rounds(obj, True):
            want += made
            left = len(made)
            while left:
                part = rng.randrange(1, left + 1)
                style = rng.choice([by_iterator, by_read, by_read_batch, by_lease,
                                    by_select])
                if style in (by_read_batch, by_lease, by_select):
                    # these take everything there is: ask only for what remains
                    part = left
                seqs = style(rb, part)
                got += seqs
                left -= len(seqs)
    assert got == want


# -- lease ------------------------------------------------------------------------------

def test_lease_views_the_ring_without_copying(obj, direct):
    with RingBuffer(obj.maps["second"], event_type=Event) as rb:
        produce(obj, 200, 40, seq=0)
        with rb.lease() as events:
            assert events["seq"].tolist() == list(range(200))
            assert events["value"].tolist() == [s * 1000 + 7 for s in range(200)]
            assert events.strides == (48,)                  # records in place
            assert not events.flags.owndata and not events.flags.writeable
            with pytest.raises(ValueError):
                events.flags.writeable = True   # the ring is mapped read-only
            with pytest.raises(ValueError):
                events["seq"][0] = 5
        assert rb.read(0) is None


def test_lease_holds_the_space_until_the_block_ends(obj, direct):
    with RingBuffer(obj.maps["second"], event_type=Event) as rb:
        # 40-byte records: 48 bytes each in the ring; 1000 of them fill 3/4 of it
        produce(obj, 1000, 40, seq=0)
        with rb.lease() as events:
            # the kernel may not reuse the lent records' space: this round fails
            a = Args(ring=RINGS["second"], count=1000, size=40, seq=1000)
            assert obj.programs["produce"].test_run(ctx=a).retval == 0
            assert a.failed > 0 and a.produced < 400
            made = a.produced
            # reading inside the block continues after the lent records
            inner = rb.read_batch()["seq"].tolist()
            assert inner == list(range(1000, 1000 + made))
            assert events["seq"].tolist() == list(range(1000))   # still intact
        # given back: all the space is free again
        assert produce(obj, 1300, 40, seq=5000) == 1300
        assert rb.read_batch()["seq"].tolist() == list(range(5000, 6300))


def test_a_view_kept_past_its_lease_or_close_reads_zeros(obj, direct):
    rb = RingBuffer(obj.maps["second"], event_type=Event)
    produce(obj, 100, 24, seq=1)
    with rb.lease() as events:
        kept = events
        part = events[10:20]
        assert kept["seq"][:3].tolist() == [1, 2, 3]
    assert not kept["seq"].any() and not part["value"].any()     # blanked, not reused
    produce(obj, 100, 24, seq=500)                                # the kernel rewrites
    assert not kept["seq"].any()
    with rb.lease() as events:
        second = events
        rb.close()                                                 # closed mid-block
        assert second["seq"][0] == 500
    assert not second["seq"].any()
    with pytest.raises(ClosedError):
        with rb.lease():
            pass
    del kept, part, second, events
    gc.collect()


def test_lease_of_varying_sizes_or_through_libbpf_is_a_copy(obj, walker):
    with RingBuffer(obj.maps["second"], event_type=Event) as rb:
        produce(obj, 50, 24, seq=0, step=1)
        with rb.lease() as events:
            assert events["seq"].tolist() == list(range(50))
            assert events.flags.writeable            # our own memory
        produce(obj, 50, 24, seq=50)
        with rb.lease() as events:
            assert events["seq"].tolist() == list(range(50, 100))
            assert events.flags.writeable == (walker == "libbpf")   # else a view
        produce(obj, 10, 30, seq=100)
        with rb.lease(max_events=4) as events:
            assert events["seq"].tolist() == [100, 101, 102, 103]
        assert [ev.seq for ev in (rb.read(0) for _ in range(6))] == list(range(104, 110))


def test_lease_waits_up_to_timeout_and_checks_arguments(obj, walker):
    with RingBuffer(obj.maps["second"], event_type=Event) as rb:
        with rb.lease(timeout=0.05) as events:
            assert events.shape == (0,)
        with pytest.raises(ValueError, match="max_events"):
            with rb.lease(max_events=-1):
                pass
    with RingBuffer(obj.maps["second"]) as untyped:
        with pytest.raises(TypeError, match="event_type"):
            with untyped.lease():
                pass


def test_exception_in_a_lease_block_consumes_its_records(obj, walker):
    with RingBuffer(obj.maps["second"], event_type=Event) as rb:
        produce(obj, 20, 32, seq=0)
        with pytest.raises(RuntimeError):
            with rb.lease(max_events=5) as events:
                assert len(events) == 5
                raise RuntimeError("stop")
        assert rb.read_batch()["seq"].tolist() == list(range(5, 20))


def test_record_bytes_are_exact_for_every_walker(obj, walker):
    """Untyped events (whole records as bytes) across wraparounds, varying sizes."""
    got: list[bytes] = []
    want: list[bytes] = []
    with RingBuffer(obj.maps["second"], got.append) as rb:
        for size in range(1, 3000, 37):
            produce(obj, 5, size, seq=size, step=3, discard_every=3)
            want += [expected(size + i, size + 3 * i) for i in (0, 1, 3, 4)]
            while rb.consume():
                pass
    assert got == want


def test_one_call_drains_the_ring(obj, walker):
    """consume() (and a first read) take everything there is, even more records
    than the compiled walk takes at once (drain to empty)."""
    a = Args(ring=RINGS["big"], count=40000, size=8, seq=0)
    assert obj.programs["produce"].test_run(ctx=a).retval == 0
    assert a.produced == 40000
    got: list[bytes] = []
    with RingBuffer(obj.maps["big"], got.append) as rb:
        assert rb.consume() == 40000
        assert [int.from_bytes(g[:4], "little") for g in got] == list(range(40000))
        assert obj.programs["produce"].test_run(ctx=a).retval == 0
        del got[:]
        first = rb.read(0)                  # fetches all 40000, hands out one
        assert int.from_bytes(first[:4], "little") == 0
        assert rb.consume() == 39999
        assert [int.from_bytes(g[:4], "little") for g in got] == list(range(1, 40000))


def test_a_small_read_batch_waits_the_back_off_for_more(obj, direct, monkeypatch):
    """Batch per wakeup: a read_batch() finding a few events pauses for the back-off
    and returns what came meanwhile too; an interrupt in that pause loses nothing."""
    with RingBuffer(obj.maps["second"], event_type=Event) as rb:
        rb._backoff = 0.3
        produce(obj, 10, 32, seq=0)
        later = threading.Timer(0.05, lambda: produce(obj, 10, 32, seq=10))
        later.start()
        try:
            assert rb.read_batch()["seq"].tolist() == list(range(20))
        finally:
            later.join()
        produce(obj, 5, 32, seq=20)

        def interrupted(_seconds):
            raise KeyboardInterrupt
        monkeypatch.setattr(ringbuf_mod.time, "sleep", interrupted)
        with pytest.raises(KeyboardInterrupt):
            rb.read_batch()
        monkeypatch.undo()
        rb._backoff = 0.0
        assert rb.read_batch()["seq"].tolist() == list(range(20, 25))
