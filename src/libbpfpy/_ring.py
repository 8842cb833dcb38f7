"""What ring buffers and perf buffers share: waiting, delivering, iterating, threads.

A reader moves records in two steps.  *Fetching* copies whatever the kernel has made
available into a :class:`Batch` appended to a pending queue (one bulk copy, and the
kernel may then reuse the space).  *Delivering* hands events from the head of that
queue to a callback, an iterator, ``read()`` or ``read_batch()``.  Keeping the two
apart is what makes the failure rules simple: an exception in a callback leaves the
rest of the batch queued for the next call; an interrupt (SIGINT) at any point leaves
records either still in the ring or queued, never both and never neither; closing
from another thread wakes the waiter and stops delivery.

Every operation that touches the fds or the mappings is counted as a *use* (the
mechanism every :class:`~libbpfpy._lifetime.Owner` has); closing while another thread
is inside one marks the reader closed, wakes it, and leaves the actual release to the
last use that ends, so nothing is ever unmapped under a reader.
"""
from __future__ import annotations

import collections
import logging
import operator
import os
import select
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from . import _args
from ._lifetime import Owner
from ._ring_types import Decoder, ShortRecord
from .errors import ClosedError

log = logging.getLogger("libbpfpy.events")

_NOTHING: Any = object()
_length_hint = operator.length_hint
# Exhausting a list iterator in O(1) (list_iterator.__setstate__ clamps to the end).
_END = 1 << 62
# The longest single epoll wait, in seconds (epoll takes int milliseconds).
_MAX_WAIT = 86400.0


class Source:
    """One stream of records (a ring, or a perf buffer) and how to present them."""

    callback: Callable[..., Any] | None
    decoder: Decoder

    def deliver(self, it: Iterator[Any]) -> None:
        """Call the callback for every event left in ``it`` (stops at an exception)."""
        raise NotImplementedError

    def decode(self, batch: Batch) -> tuple[list[Any], bool]:
        """The batch's events, and whether some records were too short for the type."""
        raise NotImplementedError


class Batch:
    """Records copied out of the kernel, not yet (fully) delivered.

    Either ``buf`` with record offsets ``offs`` and lengths ``lens`` (an int when all
    records have the same length), or ``items``, a list filled by a libbpf callback.
    ``end`` is the ring position just after the last record (ring buffers only).
    """

    __slots__ = ("source", "buf", "offs", "lens", "items", "end", "it", "count")

    def __init__(self, source: Source, buf: bytes = b"", offs: Any = (),
                 lens: int | list[int] = 0, items: list[Any] | None = None,
                 end: int = -1) -> None:
        self.source = source
        self.buf = buf
        self.offs = offs
        self.lens = lens
        self.items = items
        self.end = end
        self.it: Iterator[Any] | None = None
        self.count = 0

    def iterator(self) -> Iterator[Any]:
        """The shared iterator over this batch's events (decoded on first use)."""
        it = self.it
        if it is None:
            events, short = self.source.decode(self)
            self.count = len(events)
            it = _Checked(events, self.source.decoder) if short else iter(events)
            self.it = it
        return it

    def remaining(self) -> int:
        """How many records have not been handed out yet."""
        if self.it is None:
            return len(self.items) if self.items is not None else len(self.offs)
        return _length_hint(self.it)


class _Checked:
    """Iterator over decoded events that raises for records too short for the type."""

    def __init__(self, events: list[Any], decoder: Decoder) -> None:
        self._events = events
        self._it = iter(events)
        self._decoder = decoder

    def __iter__(self) -> _Checked:
        return self

    def __next__(self) -> Any:
        ev = next(self._it)
        if type(ev) is ShortRecord:
            raise self._decoder.short_error(ev)
        if isinstance(ev, tuple) and len(ev) == 2 and type(ev[1]) is ShortRecord:
            raise self._decoder.short_error(ev[1])  # a perf event (cpu, event)
        return ev

    def __length_hint__(self) -> int:
        return _length_hint(self._it)

    def __setstate__(self, state: int) -> None:
        self._it.__setstate__(state)  # type: ignore[attr-defined]


def _bookmark(it: Any) -> tuple[int, Callable[[], Any]] | None:
    """Where a batch's shared iterator stands, and how to make a fresh one that
    continues from there (an exhausted list iterator cannot be revived); None when
    it is at its end."""
    inner = it._it if isinstance(it, _Checked) else it
    state: Any = inner.__reduce__()  # (iter, (list,), index); (iter, ((),)) at the end
    if len(state) < 3:
        return None
    seq: list[Any] = state[1][0]
    pos: int = state[2]

    def resume() -> Any:
        new: Any = _Checked(seq, it._decoder) if isinstance(it, _Checked) else iter(seq)
        new.__setstate__(pos)
        return new
    return pos, resume


class Resources:
    """What a reader must release, in order; also the garbage collector's safety net."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.freed = False

    def add(self, step: Callable[[], None]) -> None:
        self._steps.append(step)

    def free(self) -> None:
        with self._lock:
            if self.freed:
                return
            self.freed = True
            steps, self._steps = self._steps, []
        for step in reversed(steps):
            try:
                step()
            except Exception:  # keep releasing the rest
                log.exception("libbpfpy: error while releasing an event buffer")


class Reader(Owner):
    """Base of :class:`RingBuffer` and :class:`PerfBuffer`: the consumption styles.

    Subclasses implement ``_fill(limit)`` (fetch available records into the pending
    queue; True if anything was fetched), ``_ready()`` (whether records are available
    without waiting) and ``_sources()``.
    """

    _kind = "event buffer"

    def __init__(self) -> None:
        super().__init__()
        self._resources = Resources()
        self._mutex = threading.RLock()   # fetching and delivering
        self._pending: collections.deque[Batch] = collections.deque()
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._stopping = False
        # The batch a callback is being called from, and how stop() parked it.
        self._delivering: Batch | None = None
        self._parked: Callable[[], Any] | None = None
        self._epoll = select.epoll()
        self._resources.add(self._epoll.close)
        try:
            self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except BaseException:
            self._resources.free()
            raise
        wakefd = self._wakefd
        self._resources.add(lambda: os.close(wakefd))
        self._epoll.register(self._wakefd, select.EPOLLIN)
        self._arm(self._resources.free)

    # -- to implement ----------------------------------------------------------------
    def _fill(self, limit: int) -> bool:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _sources(self) -> list[Source]:
        raise NotImplementedError

    def _consumable(self) -> None:
        """Raise if nothing can be consumed yet (e.g. no map added)."""

    # -- lifetime -----------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.eventfd_write(self._wakefd, 1)
        except OSError:
            pass

    def _shutdown(self) -> None:
        # Stop delivery of what is already fetched: exhaust the shared iterators (a
        # loop handing them out sees the end, then finds the reader closed).
        for batch in list(self._pending):
            if batch.it is not None:
                batch.it.__setstate__(_END)  # type: ignore[attr-defined]
            else:
                batch.it = iter(())
        self._pending.clear()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _release(self) -> None:
        self._resources.free()

    def _closed_error(self) -> ClosedError:
        return ClosedError(self._describe())

    # -- waiting ------------------------------------------------------------------------
    def _wait(self, timeout: float | None) -> bool:
        """Block until records may be available (True) or ``timeout`` passes (False).

        Raises ClosedError if the reader is closed meanwhile.  Must be called inside a
        use, outside the mutex.
        """
        if self._ready():
            return True
        if timeout is not None and timeout <= 0:
            return False
        # select.epoll.poll retries on EINTR after running signal handlers (PEP 475),
        # so SIGINT surfaces here as KeyboardInterrupt with nothing half-done.  A
        # wait longer than epoll's int milliseconds ends early (the caller re-waits).
        events = self._epoll.poll(-1 if timeout is None else min(timeout, _MAX_WAIT))
        if self._closed:
            raise self._closed_error()
        if self._stopping:
            return False
        return any(fd != self._wakefd for fd, _ in events)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until events are available or ``timeout`` seconds pass (None: forever).

        Returns whether events are (or, for a perf buffer, may be) available: False
        on timeout.  Nothing is consumed.
        """
        timeout = _args.timeout(timeout)
        with self._use():
            if self._pending and any(b.remaining() for b in self._pending):
                return True
            return self._wait(timeout)

    def epoll_fd(self) -> int:
        """An epoll fd that becomes readable when events may be available.

        For your own event loop: wait for it to be readable, then call
        :meth:`consume` or :meth:`read_batch` (it also becomes readable when the buffer
        is closed).  Owned by the buffer.
        """
        self._check()
        return self._epoll.fileno()

    def fileno(self) -> int:
        """Same as :meth:`epoll_fd` (so the buffer can be passed to ``select``)."""
        return self.epoll_fd()

    # -- delivering -------------------------------------------------------------------
    def _require_callbacks(self) -> None:
        self._consumable()
        missing = [s for s in self._sources() if s.callback is None]
        if missing:
            raise TypeError(f"{self._describe()}: poll()/consume() call a callback, but none "
                            "was given (pass callback=..., or use read(), iteration or "
                            "read_batch())")

    def _deliver_pending(self) -> int:
        """Call the callbacks for everything queued; called with the mutex held."""
        n = 0
        pending = self._pending
        while pending:
            batch = pending[0]
            it = batch.iterator()
            before = _length_hint(it)
            self._delivering = batch
            try:
                batch.source.deliver(it)
            finally:
                self._delivering = None
            resume, self._parked = self._parked, None
            if resume is not None:
                # stop() from a callback: the rest of the batch stays queued.
                batch.it = resume()
                return n + before - _length_hint(batch.it)
            n += before
            if pending and pending[0] is batch:
                pending.popleft()
        if self._closed:
            raise self._closed_error()
        return n

    def _drain(self, limit: int) -> int:
        """Deliver what is queued, then fetch and deliver until ``limit`` bytes or the
        data available now is exhausted."""
        with self._mutex:
            if self._closed:
                raise self._closed_error()
            n = self._deliver_pending()
            budget = limit
            while budget > 0 and not self._stopping and self._fill(min(budget, self._chunk)):
                budget -= self._chunk
                n += self._deliver_pending()
            return n

    _chunk = 256 * 1024
    _poll_limit = 64 * 1024 * 1024

    def consume(self) -> int:
        """Call the callback for every event available now, without waiting.

        Returns how many events were delivered.  If a callback raises, the exception
        propagates; that event counts as delivered and the next call continues with
        the one after it.
        """
        with self._use():
            self._require_callbacks()
            return self._drain(self._poll_limit)

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: forever) for events, then call the
        callback for each available one; return how many were delivered (0 on timeout).

        A callback's exception propagates (see :meth:`consume`); closing the buffer
        from another thread wakes the poll, which raises :class:`ClosedError`.
        """
        timeout = _args.timeout(timeout)
        with self._use():
            self._require_callbacks()
            n = self._drain(self._poll_limit)
            if n or timeout == 0:
                return n
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if not self._wait(remaining):
                    return 0
                n = self._drain(self._poll_limit)
                if n:
                    return n
                if remaining is not None and deadline is not None and \
                        time.monotonic() >= deadline:
                    return 0

    def _next_event(self) -> Any:
        """The next event (fetching at most once), or _NOTHING; mutex held."""
        pending = self._pending
        fetched = False
        while True:
            while pending:
                batch = pending[0]
                ev = next(batch.iterator(), _NOTHING)
                if ev is not _NOTHING:
                    return ev
                if pending and pending[0] is batch:
                    pending.popleft()
            if fetched or not self._fill(self._chunk):
                return _NOTHING
            fetched = True

    def read(self, timeout: float | None = None) -> Any:
        """The next event, waiting up to ``timeout`` seconds (None: forever); None if
        none arrived in time."""
        timeout = _args.timeout(timeout)
        with self._use():
            self._consumable()
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                with self._mutex:
                    if self._closed:
                        raise self._closed_error()
                    ev = self._next_event()
                if ev is not _NOTHING:
                    return ev
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._wait(remaining)

    def __iter__(self) -> Iterator[Any]:
        """Iterate over events forever, blocking while none are available.

        Breaking out of the loop loses nothing: the next read continues after the last
        event the loop received.  Raises :class:`ClosedError` when the buffer is closed.
        """
        self._check()
        self._consumable()
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        pending = self._pending
        while True:
            if pending:
                batch = pending[0]
                with self._mutex:  # decoding is shared with other threads
                    it = batch.iterator()
                yield from it
                if pending and pending[0] is batch and batch.it is it:
                    pending.popleft()
                continue
            with self._use():
                with self._mutex:
                    fetched = self._fill(self._chunk)
                if not fetched:
                    self._wait(None)

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for event in buffer`` under asyncio: waits through the running loop
        (the buffer's epoll fd is registered with ``loop.add_reader``), no thread."""
        self._check()
        self._consumable()
        return self._aiterate()

    async def _aiterate(self) -> AsyncIterator[Any]:
        import asyncio  # here, not at module level: it costs tools ~10 ms and ~3 MB
        loop = asyncio.get_running_loop()
        pending = self._pending
        while True:
            if pending:
                batch = pending[0]
                with self._mutex:
                    it = batch.iterator()
                for ev in it:
                    yield ev
                if pending and pending[0] is batch and batch.it is it:
                    pending.popleft()
                continue
            with self._use():
                with self._mutex:
                    fetched = self._fill(self._chunk)
                if not fetched and not self._ready():
                    fut = loop.create_future()
                    fd = self._epoll.fileno()

                    def wake(f: asyncio.Future[None] = fut) -> None:
                        if not f.done():
                            f.set_result(None)

                    loop.add_reader(fd, wake)
                    try:
                        await fut
                    finally:
                        loop.remove_reader(fd)
                    if self._closed:
                        raise self._closed_error()

    # -- background thread ------------------------------------------------------------
    def start(self) -> None:
        """Call the callback from a background thread until :meth:`stop` or close.

        If a callback raises, the thread ends and :meth:`stop` re-raises the exception.
        """
        # Under the close lock: a close from another thread sees either no thread or
        # a started one (which it wakes and joins).
        with self._use(), self._lock:
            self._check()
            self._require_callbacks()
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(f"{self._describe()}: already started")
            self._stopping = False
            self._thread_error = None
            # Set before it starts: its first callback may already call stop().
            self._thread = threading.Thread(target=self._run, daemon=True,
                                             name=f"libbpfpy {self._describe()}")
            self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping and not self._closed:
                self.poll(None)
        except ClosedError:
            if not self._closed:
                raise
        except BaseException as exc:
            log.error("libbpfpy: callback of %s raised %r; background thread stopped",
                      self._describe(), exc)
            self._thread_error = exc

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread started by :meth:`start` and wait for it.

        Called from a callback of that thread, no further callback is made: the
        thread ends when this one returns, and the events not yet delivered stay
        queued for the next consumer.  Re-raises the exception that stopped the
        thread, if a callback raised one.
        """
        timeout = _args.timeout(timeout)
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        if thread is threading.current_thread():
            self._park()
            return          # the thread sees _stopping once this callback returns
        self._wake()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"{self._describe()}: background thread still running")
        self._thread = None
        self._stopping = False
        if not self._closed:
            try:
                os.eventfd_read(self._wakefd)
            except (BlockingIOError, OSError):
                pass
        err, self._thread_error = self._thread_error, None
        if err is not None:
            raise err

    def _park(self) -> None:
        """End the delivery in progress after the current callback: its iterator is
        made to look exhausted (the C-level loop calling the callbacks ends), and the
        batch gets a fresh one continuing from there once that loop has stopped."""
        batch = self._delivering
        if batch is None or batch.it is None or self._parked is not None:
            return
        mark = _bookmark(batch.it)
        if mark is not None:
            self._parked = mark[1]
            batch.it.__setstate__(_END)  # type: ignore[attr-defined]

    @property
    def running(self) -> bool:
        """Whether the background thread is running."""
        return self._thread is not None and self._thread.is_alive()
