"""Perf buffers (``BPF_MAP_TYPE_PERF_EVENT_ARRAY``): per-CPU event streams via libbpf::

    def show(cpu, ev):
        print(cpu, ev.pid)

    with PerfBuffer(obj.maps["events"], show, event_type="event",
                    lost_callback=lambda cpu, n: print(f"lost {n} on CPU {cpu}")) as pb:
        while True:
            pb.poll(1.0)

Callbacks get ``(cpu, event)``; :meth:`~PerfBuffer.read` and iteration give
:class:`PerfEvent` named tuples ``(cpu, event)``.  Samples are read through libbpf's
``perf_buffer__*`` (one perf ring per CPU); events are ``bytes`` or new instances of
``event_type``.  Note that the kernel pads raw samples to 8 bytes (minus the 4-byte
size), so ``bytes`` events may be longer than what the program wrote.

Requires Linux >= 4.4 (``bpf_perf_event_output``).
"""
from __future__ import annotations

import collections
import ctypes
import errno
import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

from . import _args
from ._deferred import register
from ._raw import CALLBACKS, check_int, check_ptr, lib, raise_pending
from ._ring import Batch, Reader, Source
from ._ring_types import Decoder, resolve_event_type
from .enums import MapType
from .errors import a_or_an
from .map import MapAPI

__all__ = ["PerfBuffer", "PerfEvent"]


class PerfEvent(NamedTuple):
    """An event of a perf buffer and the CPU whose buffer it came from."""

    cpu: int
    event: Any


class _PerfSource(Source):
    def __init__(self, callback: Callable[[int, Any], Any] | None, decoder: Decoder) -> None:
        self.callback = callback
        self.decoder = decoder

    def deliver(self, it: Any) -> None:
        cb = self.callback
        assert cb is not None
        collections.deque(itertools.starmap(cb, it), maxlen=0)

    def decode(self, batch: Batch) -> tuple[list[Any], bool]:
        items = batch.items or []
        events, short = self.decoder.from_items([raw for _, raw in items])
        return list(map(PerfEvent, [cpu for cpu, _ in items], events)), short


class PerfBuffer(Reader):
    """Samples from a ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` map, one perf ring per CPU.

    ``callback(cpu, event)`` is called by :meth:`poll`/:meth:`consume`/:meth:`start`;
    :meth:`read` and iteration (also ``async for``) give :class:`PerfEvent` tuples.
    ``lost_callback(cpu, count)`` is told about samples the kernel dropped because a
    CPU's buffer was full; :attr:`lost` is their total.  ``page_count`` (a power of
    two) is the size of each CPU's buffer in pages.  See :class:`RingBuffer` for the
    rules on errors in callbacks, closing and interrupts, which are the same (there is
    no ``read_batch()``: samples come one at a time through libbpf's callback).

    Requires Linux >= 4.4.
    """

    _kind = "perf buffer"

    def __init__(self, map: MapAPI, callback: Callable[[int, Any], Any] | None = None, *,
                 lost_callback: Callable[[int, int], Any] | None = None,
                 page_count: int = 64, event_type: Any = None) -> None:
        super().__init__()
        self._ptr: Any = None
        self._name = getattr(map, "name", "?")
        self.lost = 0
        self._lost_queue: collections.deque[tuple[int, int]] = collections.deque()
        self._lost_callback = lost_callback
        try:
            self._setup(map, callback, lost_callback, page_count, event_type)
        except BaseException:
            self.close()
            raise

    def _setup(self, map: MapAPI, callback: Any, lost_callback: Any, page_count: int,
               event_type: Any) -> None:
        if not isinstance(map, MapAPI):
            raise TypeError(f"expected a Map or MapHandle, got {type(map).__name__}")
        if map.type != MapType.PERF_EVENT_ARRAY:
            hint = " (use RingBuffer)" if map.type == MapType.RINGBUF else ""
            raise TypeError(f"map {map.name!r} is {a_or_an(map.type.libbpf_name)} map, not a "
                            f"perf_event_array{hint}")
        for name, cb in (("callback", callback), ("lost_callback", lost_callback)):
            if cb is not None and not callable(cb):
                raise TypeError(f"{name} must be callable, not {cb!r}")
        # Each CPU's buffer is page_count pages mapped at once: bounded well below
        # anything a size_t or the kernel's limits would wrap.
        page_count = _args.uint(page_count, "page_count", minimum=1, maximum=1 << 20)
        if page_count & (page_count - 1):
            raise ValueError(f"page_count must be a power of two, not {page_count}")
        self._source = _PerfSource(callback, Decoder(resolve_event_type(event_type, map)))
        self._collect: list[tuple[int, bytes]] = []
        self._cb_error: BaseException | None = None

        def sample(_ctx: Any, cpu: int, data: int, size: int) -> None:
            appended = False
            try:
                self._collect.append((cpu, ctypes.string_at(data, size)))
                appended = True
            except BaseException as exc:  # KeyboardInterrupt can land here
                if not appended:
                    self._collect.append((cpu, ctypes.string_at(data, size)))
                self._cb_error = exc

        def lost(_ctx: Any, cpu: int, count: int) -> None:
            try:
                self.lost += count
                self._lost_queue.append((cpu, count))
            except BaseException as exc:  # KeyboardInterrupt can land here too
                self._cb_error = self._cb_error or exc

        self._sample_cb = CALLBACKS["perf_buffer_sample_fn"](register(sample))
        self._lost_cb = CALLBACKS["perf_buffer_lost_fn"](register(lost))
        fd = map.fd
        self._ptr = check_ptr(lib.perf_buffer__new(fd, page_count, self._sample_cb,
                                                   self._lost_cb, None, None),
                              "perf_buffer__new", f"map {map.name!r}")
        ptr = self._ptr
        self._resources.add(lambda: lib.perf_buffer__free(ptr))
        efd = check_int(lib.perf_buffer__epoll_fd(ptr), "perf_buffer__epoll_fd")
        self._epoll.register(efd, 0x001)  # EPOLLIN
        self._map = map
        map._adopt(self)
        raise_pending()  # a Ctrl-C during perf_buffer__new (closed by __init__)

    def _describe(self) -> str:
        return f"perf buffer over map {getattr(self, '_name', '?')!r}"

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<PerfBuffer {self._name} lost={self.lost}{state}>"

    @property
    def buffer_count(self) -> int:
        """How many per-CPU buffers there are (``perf_buffer__buffer_cnt``)."""
        with self._use():
            return int(lib.perf_buffer__buffer_cnt(self._ptr))

    def buffer_fd(self, index: int) -> int:
        """The perf event fd of per-CPU buffer ``index`` (owned by the buffer)."""
        with self._use():
            return check_int(lib.perf_buffer__buffer_fd(self._ptr, index),
                             "perf_buffer__buffer_fd", self._describe())

    # -- Reader hooks -----------------------------------------------------------------
    def _sources(self) -> list[Source]:
        return [self._source]

    def _ready(self) -> bool:
        return any(b.remaining() for b in self._pending) or bool(self._lost_queue)

    def _fill(self, limit: int) -> bool:
        items: list[tuple[int, bytes]] = []
        batch = Batch(self._source, items=items)
        pending = self._pending
        # Queued before libbpf runs so that an interrupt cannot lose what it copied.
        pending.append(batch)
        self._collect = items
        ret = lib.perf_buffer__consume(self._ptr)
        if not items and pending and pending[-1] is batch:
            pending.pop()
        err, self._cb_error = self._cb_error, None
        if err is not None:
            raise err
        if ret < 0 and -ret != errno.EINTR:
            check_int(ret, "perf_buffer__consume", self._describe())
        self._report_lost()
        return bool(items)

    def _report_lost(self) -> None:
        cb = self._lost_callback
        queue = self._lost_queue
        while queue:
            cpu, count = queue.popleft()
            if cb is not None:
                cb(cpu, count)
