"""Per-ring objects of a RingBuffer (``rb.rings[i]``, libbpf >= 1.3's ``ring__*``
API): positions and available data checked against the records produced and, where
the loaded libbpf has the ``ring__*`` API, against libbpf's own view of the same
ring; ``consume(n)`` delivers up to n records of that ring only."""
from __future__ import annotations

import pytest

from libbpfpy import Object, RingBuffer
from libbpfpy import _raw as raw
from ringbuf_types import Args, Event

pytestmark = pytest.mark.root

RINGS = {"small": 0, "big": 1, "second": 2}


def produce(obj: Object, ring: str, count: int, size: int, *, seq: int = 0) -> None:
    args = Args(ring=RINGS[ring], count=count, size=size, size_step=0, discard_every=0,
                seq=seq, flags=0)
    assert obj.programs["produce"].test_run(ctx=args).retval == 0
    assert args.produced == count


def footprint(count: int, size: int) -> int:
    """Bytes ``count`` records of ``size`` take in a ring: 8-byte header, 8-aligned."""
    return count * ((size + 8 + 7) & ~7)


class LibbpfView:
    """libbpf's own ring_buffer over the same map, read through ring__* (>= 1.3)."""

    def __init__(self, fd: int) -> None:
        self._cb = raw.CALLBACKS["ring_buffer_sample_fn"](lambda ctx, data, size: 0)
        self.rb = raw.check_ptr(raw.lib.ring_buffer__new(fd, self._cb, None, None),
                                "ring_buffer__new")
        self.ring = raw.lib.ring_buffer__ring(self.rb, 0)

    def numbers(self) -> tuple[int, int, int, int]:
        lib = raw.lib
        return (int(lib.ring__size(self.ring)), int(lib.ring__producer_pos(self.ring)),
                int(lib.ring__consumer_pos(self.ring)),
                int(lib.ring__avail_data_size(self.ring)))

    def close(self) -> None:
        raw.lib.ring_buffer__free(self.rb)


def numbers(ring) -> tuple[int, int, int, int]:
    return ring.size, ring.producer_pos, ring.consumer_pos, ring.avail_data_size


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as o:
        o.load()
        yield o


def test_ring_positions_and_consume_n(obj):
    small: list[Event] = []
    second: list[bytes] = []
    oracle = LibbpfView(obj.maps["small"].fd) if raw.is_available("ring__size") else None
    with RingBuffer() as rb:
        rb.add(obj.maps["small"], small.append, event_type=Event)
        rb.add(obj.maps["second"], second.append)
        r_small, r_second = rb.rings
        assert (r_small.name, r_second.name) == ("small", "second")
        assert r_small.map is obj.maps["small"]
        start = r_small.producer_pos
        produce(obj, "small", 10, 32)
        produce(obj, "second", 5, 24, seq=500)
        assert r_small.size == 4 * 4096 and r_second.size == 1 << 16
        assert r_small.producer_pos - start == footprint(10, 32)
        assert r_small.avail_data_size == footprint(10, 32)
        assert r_second.avail_data_size == footprint(5, 24)
        if oracle is not None:
            assert numbers(r_small) == oracle.numbers()
        assert r_small.consume(3) == 3
        assert [e.seq for e in small] == [0, 1, 2] and second == []
        # the rest of that ring was taken from the kernel ring and waits here
        assert r_small.avail_data_size == 0 and r_small.queued == 7
        assert r_second.avail_data_size == footprint(5, 24)
        if oracle is not None:
            assert numbers(r_small) == oracle.numbers()   # the same consumer_pos
        assert r_small.consume() == 7 and r_small.queued == 0
        assert [e.seq for e in small] == list(range(10)) and second == []
        assert r_small.consume(5) == 0                      # nothing left: no wait
        assert rb.poll(1.0) == 5 and len(second) == 5       # the other ring's, untouched
        assert r_second.avail_data_size == 0
        assert r_second.consumer_pos == r_second.producer_pos
        with pytest.raises(ValueError):
            r_small.consume(-1)
    if oracle is not None:
        oracle.close()
    with pytest.raises(Exception, match="closed"):
        _ = r_small.producer_pos


def test_ring_without_callback_cannot_consume(obj):
    with RingBuffer(obj.maps["small"], event_type=Event) as rb:
        produce(obj, "small", 2, 24)
        ring = rb.rings[0]
        with pytest.raises(TypeError, match="no callback"):
            ring.consume(1)
        assert [e.seq for e in (rb.read(), rb.read())] == [0, 1]
        assert ring.avail_data_size == 0
