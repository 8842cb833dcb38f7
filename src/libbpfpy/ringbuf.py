"""Ring buffers (``BPF_MAP_TYPE_RINGBUF``): events from BPF programs, read directly.

    with RingBuffer(obj.maps["events"], event_type="process_info") as rb:
        for ev in rb:                      # or rb.poll() with a callback,
            print(ev.pid, ev.comm)         # rb.read_batch() into numpy, async for ...

The ring is read through ``mmap`` of the map, the way libbpf's C consumer reads it:
the consumer page (read-write, offset 0) holds ``consumer_pos``; the producer page
(``producer_pos``) and the data area follow read-only at offset PAGE, with the data
area mapped twice so a record that wraps around the end is contiguous.  Each record
has an 8-byte header ``{u32 len; u32 pg_off}``; bit 31 of ``len`` (BUSY) marks a record
still being written, bit 30 (DISCARD) one the program discarded.

Reading in Python stays cheap by working in runs: headers of same-size records are
checked with one strided read, the run is copied out with one bulk copy, the
consumer position is published right after the copy (so the kernel can reuse the
space at once), and events are decoded from the copy in a C-level loop.

Requires Linux >= 5.8 (ring buffer maps).  On architectures other than x86 (where
plain loads are not ordered enough to read the ring from Python) records are
fetched through libbpf's ``ring_buffer__consume`` instead; the API is the same.
"""
from __future__ import annotations

import collections
import ctypes
import errno
import itertools
import mmap
import operator
import platform
import threading
import time
import weakref
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from . import _args
from ._deferred import register
from ._raw import CALLBACKS, CONSTANTS, check_ptr, lib, raise_pending
from ._ring import Batch, Reader, Source
from ._ring_types import Decoder, numpy_dtype, resolve_event_type
from .enums import MapType
from .errors import BPFError, a_or_an, error_for
from .map import MapAPI

__all__ = ["RingBuffer", "Ring"]

_BUSY = CONSTANTS["BPF_RINGBUF_BUSY_BIT"]
_DISCARD = CONSTANTS["BPF_RINGBUF_DISCARD_BIT"]
_LEN_MASK = ~(_BUSY | _DISCARD) & 0xFFFFFFFF
_HDR = CONSTANTS["BPF_RINGBUF_HDR_SZ"]
_COUNT_OF = itemgetter(2)  # of a run (offset, stride, count, length)
_LEN_OF = itemgetter(3)
_PAGE = mmap.PAGESIZE
_STOP = -errno.ENOBUFS  # our sample callback's "batch is full" return code

# x86 is TSO: loads are not reordered with other loads nor stores with other stores,
# so reading producer_pos, then a header, then the data it covers (and storing
# consumer_pos after copying) needs no barriers.  Elsewhere libbpf does the reading.
_DIRECT = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")

# A full barrier (lock-prefixed instruction): taking an uncontended lock does one.
_barrier_lock = threading.Lock()


def _full_barrier() -> None:
    _barrier_lock.acquire()
    _barrier_lock.release()


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise ImportError("read_batch() needs numpy: pip install numpy") from None
    return numpy


# -- one consumer per ring ---------------------------------------------------------------

# Kernel map id -> the RingBuffer reading it.  A ring has one consumer position: two
# readers in one process would each deliver every record (or race on the position).
_consumers: dict[int, weakref.ref[RingBuffer]] = {}
_consumers_lock = threading.Lock()


def _claim(map: MapAPI, reader: RingBuffer) -> int:
    """Register ``reader`` as the consumer of ``map``; BPFError (EBUSY) if another
    open RingBuffer of this process already reads it.  Returns the map's id."""
    map_id = map.info().id
    with _consumers_lock:
        ref = _consumers.get(map_id)
        other = ref() if ref is not None else None
        if other is not None and other is not reader and not other.closed:
            raise BPFError(errno.EBUSY, f"ring buffer map {map.name!r} (id {map_id}) is "
                           f"already read by {other!r} in this process: two readers would "
                           "each get every record; read it through that one (add() more "
                           "rings to it), or close it first", call="RingBuffer.add",
                           target=map.name)
        _consumers[map_id] = reader._self_ref
    return map_id


def _release_claim(map_id: int, reader: weakref.ref[RingBuffer]) -> None:
    with _consumers_lock:
        ref = _consumers.get(map_id)
        if ref is reader:
            del _consumers[map_id]


class _Ring(Source):
    """One ring buffer map of a :class:`RingBuffer`."""

    def __init__(self, owner: RingBuffer, map: MapAPI, callback: Callable[[Any], Any] | None,
                 event_type: Any) -> None:
        self.map = map
        self.name = map.name
        self.fd = map.fd
        self.type_name = event_type if isinstance(event_type, str) else None
        self.decoder = Decoder(resolve_event_type(event_type, map))
        self.callback = callback
        self.size = map.max_entries
        self.mask = self.size - 1
        self.cursor = 0
        self._dtype: Any = None
        self._views: list[memoryview] = []
        self._maps: list[mmap.mmap] = []
        self._rb_ptr: Any = None
        self._owner = owner
        self.raw: Any = None
        # The BPF program's count of records this ring had no room for
        # (libbpfpy/ringbuf.h's <ring>__lost), when its object declares one.
        self.lost_map: MapAPI | None = None
        obj = getattr(map, "object", None)
        if obj is not None:
            counter = obj.maps.get(f"{map.name}__lost")
            if counter is not None and counter.type == MapType.PERCPU_ARRAY:
                self.lost_map = counter

    # -- direct access -------------------------------------------------------------------
    def map_direct(self) -> None:
        """mmap the consumer page (RW) and producer page + data twice (RO)."""
        what = f"ring buffer map {self.name!r}"
        try:
            cons_mm = mmap.mmap(self.fd, _PAGE, mmap.MAP_SHARED,
                                mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
            self._maps.append(cons_mm)
            data_mm = mmap.mmap(self.fd, _PAGE + 2 * self.size, mmap.MAP_SHARED,
                                mmap.PROT_READ, offset=_PAGE)
            self._maps.append(data_mm)
        except OSError as exc:
            self.unmap()
            raise error_for(exc.errno or errno.EINVAL, f"mmap() of {what} failed: "
                            f"{exc.strerror}", call="mmap", target=self.name) from None
        cmv = memoryview(cons_mm)
        dmv = memoryview(data_mm)
        self.cons = cmv[:8].cast("Q")
        self.prod = dmv[:8].cast("Q")
        self.hdr = dmv.cast("I")
        self._views = [self.cons, self.prod, self.hdr, cmv, dmv]
        self.raw = data_mm
        self.cursor = self.cons[0]

    def unmap(self) -> None:
        for view in self._views:
            try:
                view.release()
            except BufferError:  # a view of it still exists; the GC unmaps later
                pass
        self._views = []
        for m in self._maps:
            try:
                m.close()
            except BufferError:
                pass
        self._maps = []
        self.raw = None

    def repair(self, pending: collections.deque[Batch]) -> None:
        """Move the cursor past batches already queued (an interrupt may have come
        between queueing a batch and moving the cursor)."""
        for b in pending:
            if b.source is self and b.end > self.cursor:
                self.cursor = b.end

    def available(self) -> bool:
        """Whether a committed record is at the cursor.  Discarded records there are
        skipped (consumed) on the way; a BUSY one does not count: its commit wakes
        the waiter.  Call with the reader's mutex held."""
        while True:
            cursor = self.cursor
            prod = self.prod[0]
            if prod == cursor:
                return False
            h = self.hdr[(_PAGE + (cursor & self.mask)) >> 2]
            if h & _BUSY:
                return False
            if not h & _DISCARD:
                return True
            step = ((h & _LEN_MASK) + 15) & -8
            if cursor + step > prod:
                self._corrupt(cursor, h & _LEN_MASK, prod)
            self.advance(cursor + step)

    def walk(self, limit: int, max_records: int = -1
             ) -> tuple[int, int, list[tuple[int, int, int, int]]]:
        """Find the committed records from the cursor on (at most ``limit`` bytes but
        at least one record, at most ``max_records`` unless negative):
        ``(start, length, runs)``, each run ``(data offset from start, stride,
        count, record length)``.  Reads headers only; the caller copies afterwards."""
        cursor = self.cursor
        prod = self.prod[0]
        avail = prod - cursor
        runs: list[tuple[int, int, int, int]] = []
        start = _PAGE + (cursor & self.mask)
        if avail <= 0 or max_records == 0:
            return start, 0, runs
        append = runs.append
        hdr = self.hdr
        base = start >> 2
        limit = min(avail, limit)
        left = max_records
        prev = -1
        p = 0
        # The per-record path is kept to a few operations: with records of varying
        # sizes it runs once per record.
        while p < avail and left:
            h = hdr[base + (p >> 2)]
            if h >= _DISCARD:       # BUSY (bit 31) or DISCARD (bit 30)
                if h & _BUSY:
                    break
                step = ((h & _LEN_MASK) + 15) & -8
                if p + step > avail:
                    self._corrupt(cursor + p, h & _LEN_MASK, prod)
                p += step
                continue
            step = (h + 15) & -8
            if p + step > limit:
                if p + step > avail:
                    self._corrupt(cursor + p, h, prod)
                if p:
                    break
            if h != prev:
                append((p + _HDR, step, 1, h))
                prev = h
                p += step
                left -= 1
                continue
            # Two same-size records in a row: likely a run.  Their headers sit
            # `step` bytes apart: read them with strided slices of growing length,
            # keeping the prefix that matches.
            kmax = (limit - p) // step
            if 0 < left < kmax:
                kmax = left
            i = base + (p >> 2)
            q = step >> 2
            k = 1
            chunk = 31
            while k < kmax:
                m = min(k + chunk, kmax)
                heads = hdr[i + k * q:i + m * q:q].tolist()
                if heads.count(h) != m - k:
                    k += operator.indexOf(map(h.__ne__, heads), True)
                    break
                k = m
                chunk *= 8
            off, _, n, _ = runs[-1]
            if off + n * step == p + _HDR:
                runs[-1] = (off, step, n + k, h)   # extend the previous record's run
            else:
                append((p + _HDR, step, k, h))
            p += k * step
            left -= k
        return start, p, runs

    def _corrupt(self, pos: int, ln: int, prod: int) -> None:
        raise BPFError(errno.EIO, f"ring buffer map {self.name!r}: record of {ln} bytes "
                       f"at position {pos} runs past the producer position {prod}",
                       target=self.name)

    def advance(self, new: int) -> None:
        self.cursor = new
        self.cons[0] = new  # release-store: x86 keeps stores in order

    # -- libbpf fallback ------------------------------------------------------------------
    def map_libbpf(self, resources: Any) -> None:
        self._collect: list[bytes] = []
        self._collected = 0
        self._limit = 0
        self._error: BaseException | None = None

        def sample(_ctx: Any, data: int, size: int) -> int:
            appended = False
            try:
                self._collect.append(ctypes.string_at(data, size))
                appended = True
                self._collected += size
                return _STOP if self._collected >= self._limit else 0
            except BaseException as exc:  # KeyboardInterrupt can land here
                if not appended:
                    self._collect.append(ctypes.string_at(data, size))
                self._error = exc
                return _STOP

        self._sample_cb = CALLBACKS["ring_buffer_sample_fn"](register(sample))
        self._rb_ptr = check_ptr(lib.ring_buffer__new(self.fd, self._sample_cb, None, None),
                                 "ring_buffer__new", f"map {self.name!r}")

    def fill_libbpf(self, pending: collections.deque[Batch], limit: int) -> bool:
        items: list[bytes] = []
        batch = Batch(self, items=items)
        # Queued before libbpf runs so that an interrupt cannot lose what it copied.
        pending.append(batch)
        self._collect = items
        self._collected = 0
        self._limit = limit
        ret = lib.ring_buffer__consume(self._rb_ptr)
        if not items and pending and pending[-1] is batch:
            pending.pop()
        err, self._error = self._error, None
        if err is not None:
            raise err
        if ret < 0 and ret != _STOP:
            raise error_for(-ret, f"ring_buffer__consume() on map {self.name!r} failed",
                            call="ring_buffer__consume", target=self.name)
        return bool(items)

    def free_libbpf(self) -> None:
        if self._rb_ptr:
            lib.ring_buffer__free(self._rb_ptr)
            self._rb_ptr = None

    # -- Source ---------------------------------------------------------------------------
    def deliver(self, it: Any) -> None:
        cb = self.callback
        assert cb is not None
        # A C-level loop: map() pulls each event from the shared iterator before the
        # call, so the event whose callback raises counts as delivered.
        collections.deque(map(cb, it), maxlen=0)

    def decode(self, batch: Batch) -> tuple[list[Any], bool]:
        if batch.items is not None:
            return self.decoder.from_items(batch.items)
        return self.decoder.from_buffer(batch.buf, batch.offs, batch.lens)

    def dtype(self) -> Any:
        if self._dtype is None:
            if self.decoder.ctype is None:
                raise TypeError(f"read_batch() needs an event_type for ring {self.name!r} "
                                "(records are untyped bytes)")
            self._dtype = numpy_dtype(self.decoder.ctype, self.map, self.type_name)
        return self._dtype


class Ring:
    """One ring of a :class:`RingBuffer` (``rb.rings[i]``), as libbpf >= 1.3's
    ``ring__*`` API shows it: the kernel ring's ``size``, ``producer_pos`` and
    ``consumer_pos`` (byte positions that only grow), ``avail_data_size`` (bytes
    written and not yet consumed) and :meth:`consume` of up to ``n`` records of this
    ring only.

    Read from this buffer's own mapping of the ring, so any libbpf serves; where the
    records are read through libbpf instead (see the module), the numbers come from
    ``ring__*`` and need libbpf >= 1.3.  Records fetched from the kernel ring but not
    yet handed to a callback (another consumption style queued them) are counted by
    :attr:`queued`, not by ``avail_data_size``."""

    def __init__(self, owner: RingBuffer, ring: _Ring) -> None:
        self._owner = owner
        self._ring = ring

    @property
    def map(self) -> MapAPI:
        """The ring buffer map."""
        return self._ring.map

    @property
    def name(self) -> str:
        """The map's name."""
        return self._ring.name

    def _libbpf_ring(self, call: str) -> Any:
        getattr(lib, call)  # a libbpf without the ring__ API says which one has it
        return lib.ring_buffer__ring(self._ring._rb_ptr, 0)

    def _positions(self) -> tuple[int, int]:
        with self._owner._use():
            ring = self._ring
            if self._owner._direct:
                return int(ring.prod[0]), int(ring.cons[0])
            r = self._libbpf_ring("ring__producer_pos")
            return int(lib.ring__producer_pos(r)), int(lib.ring__consumer_pos(r))

    @property
    def size(self) -> int:
        """The ring's data size in bytes (the map's ``max_entries``)."""
        self._owner._check()
        return int(self._ring.size)

    @property
    def producer_pos(self) -> int:
        """Where the kernel writes the next record (bytes since the map was made)."""
        return self._positions()[0]

    @property
    def consumer_pos(self) -> int:
        """Where the consumer reads next: what the kernel sees consumed."""
        return self._positions()[1]

    @property
    def avail_data_size(self) -> int:
        """Bytes written to the ring and not consumed yet (headers included)."""
        prod, cons = self._positions()
        return prod - cons

    @property
    def queued(self) -> int:
        """Records taken from this ring and waiting in the buffer for delivery."""
        with self._owner._mutex:
            return sum(b.remaining() for b in self._owner._pending if b.source is self._ring)

    def consume(self, n: int | None = None) -> int:
        """Call this ring's callback for up to ``n`` of its records available now
        (all of them if None), without waiting; returns how many were delivered.
        Records of the other rings are left alone.  As ``ring__consume_n``."""
        if n is not None and n < 0:
            raise ValueError("n must be >= 0")
        rb = self._owner
        ring = self._ring
        left = -1 if n is None else n
        with rb._use():
            if ring.callback is None:
                raise TypeError(f"ring {ring.name!r} has no callback: pass one to "
                                "RingBuffer()/add(), or use read()/iteration")
            with rb._mutex:
                if rb._closed:
                    raise rb._closed_error()
                done = self._deliver_queued(left)
                while left < 0 or done < left:
                    # fetch from this ring only: the others keep their records
                    others, rb._rings = rb._rings, [ring]
                    try:
                        got = rb._fill(rb._chunk)
                    finally:
                        rb._rings = others
                    if not got:
                        break
                    done += self._deliver_queued(-1 if left < 0 else left - done)
                return done

    def _deliver_queued(self, left: int) -> int:
        """Deliver up to ``left`` (-1: all) queued records of this ring, in order."""
        rb = self._owner
        done = 0
        for batch in list(rb._pending):
            if batch.source is not self._ring:
                continue
            if left >= 0 and done >= left:
                break
            it = batch.iterator()
            before = operator.length_hint(it)
            take = before if left < 0 else min(before, left - done)
            self._ring.deliver(itertools.islice(it, take))
            done += before - operator.length_hint(it)
            if not operator.length_hint(it):
                try:
                    rb._pending.remove(batch)
                except ValueError:
                    pass
        if rb._closed:
            raise rb._closed_error()
        return done

    def __repr__(self) -> str:
        return f"<Ring {self.name!r} of {self._owner!r}>"


class RingBuffer(Reader):
    """Events from one or more ring buffer maps (``BPF_MAP_TYPE_RINGBUF``).

    ``RingBuffer(map, callback, event_type=...)``; more rings with :meth:`add`.
    Events are ``bytes`` or, with ``event_type`` (a ctypes type, or the name of a
    struct in the object's BTF), new instances of that type -- always copies, never
    views into the ring.  Consume them with :meth:`poll`/:meth:`consume` (callback),
    :meth:`read`, iteration (``for ev in rb``, ``async for ev in rb``),
    :meth:`read_batch` (numpy) or :meth:`start` (background thread).  Records are
    delivered in ring order; across rings the order is unspecified.

    Closing the buffer (or the object owning its maps) releases the mappings; a
    thread blocked in it wakes up with :class:`ClosedError`.

    Requires Linux >= 5.8.
    """

    _kind = "ring buffer"

    def __init__(self, map: MapAPI | None = None, callback: Callable[[Any], Any] | None = None,
                 *, event_type: Any = None) -> None:
        super().__init__()
        self._rings: list[_Ring] = []
        self._self_ref = weakref.ref(self)
        self._direct = _DIRECT
        try:
            if map is not None:
                self.add(map, callback, event_type=event_type)
            elif callback is not None or event_type is not None:
                raise TypeError("RingBuffer(): callback/event_type given without a map")
        except BaseException:
            self.close()
            raise

    def _describe(self) -> str:
        names = ", ".join(repr(r.name) for r in getattr(self, "_rings", ()))
        return f"ring buffer over map {names}" if names else "ring buffer"

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<RingBuffer {', '.join(r.name for r in self._rings)}{state}>"

    def add(self, map: MapAPI, callback: Callable[[Any], Any] | None = None, *,
            event_type: Any = None) -> RingBuffer:
        """Also read the ring buffer map ``map``; its events go to ``callback`` and
        are of ``event_type`` (see the class).  Returns self."""
        with self._use():
            if not isinstance(map, MapAPI):
                raise TypeError(f"expected a Map or MapHandle, got {type(map).__name__}")
            if map.type != MapType.RINGBUF:
                hint = " (use PerfBuffer)" if map.type == MapType.PERF_EVENT_ARRAY else \
                    " (use UserRingBuffer)" if map.type == MapType.USER_RINGBUF else ""
                raise TypeError(f"map {map.name!r} is {a_or_an(map.type.libbpf_name)} map, not a "
                                f"ringbuf{hint}")
            if callback is not None and not callable(callback):
                raise TypeError(f"callback must be callable, not {callback!r}")
            fd = map.fd
            if any(r.fd == fd for r in self._rings):
                raise ValueError(f"map {map.name!r} is already in this ring buffer")
            ring = _Ring(self, map, callback, event_type)
            map_id = _claim(map, self)
            self_ref = self._self_ref
            self._resources.add(lambda: _release_claim(map_id, self_ref))
            if self._direct:
                ring.map_direct()
                self._resources.add(ring.unmap)
            else:
                ring.map_libbpf(self._resources)
                self._resources.add(ring.free_libbpf)
            self._epoll.register(fd, 0x001)  # EPOLLIN, level-triggered
            map._adopt(self)
            raise_pending()  # a Ctrl-C during ring_buffer__new: it is freed with us
            with self._mutex:
                self._rings = self._rings + [ring]
        return self

    @property
    def maps(self) -> list[MapAPI]:
        """The maps read by this buffer."""
        return [r.map for r in self._rings]

    @property
    def lost(self) -> int | None:
        """How many records the BPF programs could not put in these rings because
        they were full -- counted by the ``libbpfpy/ringbuf.h`` macros in the
        per-CPU map ``<ring>__lost`` next to each ring (the kernel keeps no such
        count).  None when no ring of this buffer has that counter."""
        total: int | None = None
        with self._use():
            for ring in self._rings:
                if ring.lost_map is not None:
                    counts = ring.lost_map.lookup(0)
                    total = (total or 0) + (sum(counts) if counts else 0)
        return total

    @property
    def rings(self) -> list[Ring]:
        """One :class:`Ring` per map, in the order added: positions, available data,
        and consumption of one ring at a time (libbpf >= 1.3's ``ring__*`` API)."""
        self._check()
        return [Ring(self, r) for r in self._rings]

    # -- Reader hooks -----------------------------------------------------------------
    def _sources(self) -> list[Source]:
        return list(self._rings)

    def _consumable(self) -> None:
        if not self._rings:
            raise ValueError("ring buffer has no maps: add() one first")

    def _ready(self) -> bool:
        if any(b.remaining() for b in self._pending):
            return True
        if not self._direct:
            return False
        with self._mutex:  # another thread may be moving the cursors
            for ring in self._rings:
                ring.repair(self._pending)
                if ring.cons[0] != ring.cursor:
                    ring.cons[0] = ring.cursor
            # Our consumer_pos store must be visible before we conclude from
            # producer_pos that the ring is empty: the kernel wakes us only for a
            # record committed at the consumer_pos it sees.  (Store-then-load needs a
            # full barrier on x86.)
            _full_barrier()
            return any(ring.available() for ring in self._rings)

    def _fill(self, limit: int) -> bool:
        pending = self._pending
        got = False
        for ring in self._rings:
            if not self._direct:
                got = ring.fill_libbpf(pending, limit) or got
                continue
            ring.repair(pending)
            start, length, runs = ring.walk(limit)
            if not length:
                continue
            end = ring.cursor + length
            if runs:
                # One bulk copy, after every header it covers was seen committed.
                buf = ring.raw[start:start + length]
                if len(runs) == 1:
                    off, step, k, ln = runs[0]
                    batch = Batch(ring, buf, range(off, off + k * step, step), ln, end=end)
                else:
                    offs: list[int] = []
                    lens: list[int] = []
                    for off, step, k, ln in runs:
                        if k == 1:
                            offs.append(off)
                            lens.append(ln)
                        else:
                            offs.extend(range(off, off + k * step, step))
                            lens.extend([ln] * k)
                    same = lens.count(lens[0]) == len(lens)
                    batch = Batch(ring, buf, offs, lens[0] if same else lens, end=end)
                pending.append(batch)
                got = True
            ring.advance(end)
            got = got or bool(length)
        return got

    # -- numpy ------------------------------------------------------------------------------
    def read_batch(self, max_events: int | None = None, *, map: MapAPI | None = None,
                   timeout: float | None = 0.0) -> Any:
        """Every available event (at most ``max_events``) as a numpy structured array.

        Needs a fixed-size ``event_type`` (its dtype: ``char[N]`` fields become
        ``S{N}``); with several rings, all must have the same type, or pass ``map``
        to read one.  Each run of records is copied with one bulk copy into a new
        array (never a view into the ring); nothing is returned twice, and what
        another consumption style left queued comes first.  Records longer than the
        type are truncated to it; a record shorter than it raises ValueError (and is
        skipped).  If nothing is available, waits up to ``timeout`` seconds (default:
        don't wait) for something to arrive.

        Each call has a fixed cost of a few microseconds, so the fewer, larger
        batches, the less CPU per event: e.g. call it in a loop with
        ``max_events=32768`` (arrays of bounded size reuse freed memory instead of
        faulting in new pages) and sleep a millisecond when little came, with a
        ring large enough to hold what arrives meanwhile.
        """
        np = _numpy()
        if max_events is not None:
            max_events = _args.uint(max_events, "max_events", 63)
        timeout = _args.timeout(timeout)
        with self._use():
            self._consumable()
            rings = self._rings
            if map is not None:
                rings = [r for r in rings if r.map is map or r.fd == map.fd]
                if not rings:
                    raise ValueError(f"map {map.name!r} is not in this ring buffer")
            dtype = rings[0].dtype()
            for r in rings[1:]:
                if r.dtype() != dtype:
                    raise TypeError("read_batch(): the rings have different event types; "
                                    "pass map= to read one of them")
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                parts: list[Any] = []
                with self._mutex:
                    if self._closed:
                        raise self._closed_error()
                    try:
                        self._read_batch(np, rings, dtype, max_events, parts)
                        out = parts[0] if len(parts) == 1 else (
                            np.concatenate(parts) if parts else np.empty(0, dtype))
                    except BaseException:
                        # Whatever was already taken from the rings is queued again
                        # (first in line), so an interrupt or an error loses nothing.
                        for arr in reversed(parts):
                            self._pending.appendleft(Batch(
                                rings[0], items=[bytes(r) for r in arr.view(
                                    np.dtype((np.void, arr.dtype.itemsize)))]))
                        raise
                if len(out) or max_events == 0:
                    return out
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return out
                self._wait(remaining)

    def _read_batch(self, np: Any, rings: list[_Ring], dtype: Any,
                    max_events: int | None, parts: list[Any]) -> None:
        left = max_events if max_events is not None else -1
        if self._pending:
            left = self._batch_pending(np, rings, dtype, left, parts)
        if not self._direct:
            while left != 0 and self._fill(self._chunk):
                left = self._batch_pending(np, rings, dtype, left, parts)
        else:
            for ring in rings:
                if left == 0:
                    break
                ring.repair(self._pending)
                left = self._batch_direct(np, ring, dtype, left, parts)

    def _batch_direct(self, np: Any, ring: _Ring, dtype: Any, left: int,
                      parts: list[Any]) -> int:
        itemsize = dtype.itemsize
        start, length, runs = ring.walk(self._poll_limit, left)
        if not length:
            return left
        short = 0
        end = length
        if min(runs, key=_LEN_OF)[3] < itemsize:
            for j, (off, step, _k, ln) in enumerate(runs):
                if ln < itemsize:
                    # Stop before a record too short for the type; if it comes
                    # first, skip it and say so.
                    if j == 0:
                        short = ln
                        end = off - _HDR + step
                    else:
                        end = off - _HDR
                    runs = runs[:j]
                    break
        total = sum(map(_COUNT_OF, runs))
        if total:
            raw = ring.raw
            out = np.empty(total, dtype)
            if total == len(runs):      # all of different sizes: one gather
                self._gather(np, raw, [start + r[0] for r in runs], dtype, out, 0)
            else:
                i = 0
                singles: list[int] = []
                for off, step, k, _ln in runs:
                    if k == 1:
                        singles.append(start + off)
                        continue
                    if singles:
                        i = self._gather(np, raw, singles, dtype, out, i)
                    # One strided bulk copy per run, out of the ring into our array.
                    out[i:i + k] = np.ndarray((k,), dtype, buffer=raw, offset=start + off,
                                              strides=(step,))
                    i += k
                if singles:
                    self._gather(np, raw, singles, dtype, out, i)
            parts.append(out)
        ring.advance(ring.cursor + end)
        if short:
            raise ValueError(f"ring {ring.name!r}: a record of {short} bytes is shorter "
                             f"than the event type ({itemsize} bytes); it was skipped")
        return left - total if left > 0 else left

    @staticmethod
    def _gather(np: Any, raw: Any, offs: list[int], dtype: Any, out: Any, i: int) -> int:
        """Copy records of different sizes (at ``offs``) with one fancy-index copy."""
        n = len(offs)
        ring = np.frombuffer(raw, np.uint8)
        try:
            idx = np.asarray(offs, np.intp)[:, None] + np.arange(dtype.itemsize)
            out[i:i + n] = ring[idx].view(dtype).reshape(n)
        finally:
            del ring
        offs.clear()
        return i + n

    def _batch_pending(self, np: Any, rings: list[_Ring], dtype: Any, left: int,
                       parts: list[Any]) -> int:
        itemsize = dtype.itemsize
        for batch in list(self._pending):
            if left == 0:
                break
            if batch.source not in rings:
                continue
            it = batch.iterator()
            n = operator.length_hint(it)
            done = batch.count - n
            take = n if left < 0 else min(n, left)
            if batch.items is not None:
                recs = batch.items[done:done + take]
            else:
                offs = batch.offs[done:done + take]
                lens = batch.lens if isinstance(batch.lens, list) else [batch.lens] * take
                if isinstance(batch.lens, list):
                    lens = lens[done:done + take]
                recs = [batch.buf[o:o + ln] for o, ln in zip(offs, lens, strict=True)]
            if any(len(r) < itemsize for r in recs):
                name = getattr(batch.source, "name", "?")
                raise ValueError(f"ring {name!r}: a record is shorter than the event type "
                                 f"({itemsize} bytes)")
            if take:
                parts.append(np.frombuffer(b"".join(r[:itemsize] for r in recs),
                                           dtype).copy())
            it.__setstate__(done + take)  # type: ignore[attr-defined]
            if left > 0:
                left -= take
            if take == n and self._pending and self._pending[0] is batch:
                self._pending.popleft()
        return left
