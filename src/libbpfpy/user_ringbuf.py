"""User ring buffers (``BPF_MAP_TYPE_USER_RINGBUF``): records from Python to BPF::

    with UserRingBuffer(obj.maps["requests"]) as urb:
        urb.write(bytes(request))                 # reserve, copy, submit
        with urb.reserve(16) as sample:           # or fill a reservation in place:
            struct.pack_into("<QQ", sample, 0, a, b)   # submitted on exit
                                                  # (discarded if the block raises)

A BPF program consumes the records with ``bpf_user_ringbuf_drain()``.  Records are
published in the order they were reserved; a reservation not yet submitted or
discarded holds back the ones after it.

A reservation is a :class:`Sample`: a fixed-size ``bytearray`` of its own, copied
into the ring by :meth:`Sample.submit` -- so keeping or writing to it after submit,
discard or close can never touch memory the kernel owns.

Requires Linux >= 6.1 and libbpf >= 1.1.
"""
from __future__ import annotations

import ctypes
import errno
import os
import select
import threading
import time
from typing import Any

from . import _args
from ._lifetime import Owner
from ._raw import check_ptr, lib, raise_pending
from ._ring import Resources
from .enums import MapType
from .errors import BPFError, ClosedError, a_or_an, error_for
from .map import MapAPI

__all__ = ["UserRingBuffer", "Sample"]

_RESERVED, _SUBMITTED, _DISCARDED = 0, 1, 2


class Sample(bytearray):
    """A reserved record of a :class:`UserRingBuffer`: a writable, fixed-size buffer.

    Write into it (slice assignment, ``struct.pack_into``, ``ctypes``'s
    ``from_buffer``, numpy), then :meth:`submit` it or :meth:`discard` it.  As a
    context manager it is submitted when the block ends normally, discarded when it
    raises.  Its size cannot change.
    """

    def __init__(self, owner: UserRingBuffer, ptr: int, size: int) -> None:
        super().__init__(size)
        self._owner = owner
        self._ptr = ptr
        self._state = _RESERVED
        self._pin = memoryview(self)  # an export forbids resizing the bytearray

    @property
    def submitted(self) -> bool:
        """Whether :meth:`submit` published this record."""
        return self._state == _SUBMITTED

    @property
    def pending(self) -> bool:
        """Whether the record is still reserved (neither submitted nor discarded)."""
        return self._state == _RESERVED

    def submit(self) -> None:
        """Copy the record into the ring and publish it to BPF."""
        self._owner._finish(self, True)

    def discard(self) -> None:
        """Give the reservation back without publishing anything."""
        self._owner._finish(self, False)

    def __enter__(self) -> Sample:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._state == _RESERVED:
            if exc_type is None:
                self.submit()
            elif not self._owner._closed:
                self.discard()

    def __repr__(self) -> str:
        state = ("reserved", "submitted", "discarded")[self._state]
        return f"<Sample {len(self)} bytes {state}>"

    def __reduce__(self) -> Any:
        raise TypeError("a user ring buffer Sample cannot be pickled")


class UserRingBuffer(Owner):
    """Write records for BPF programs into a ``BPF_MAP_TYPE_USER_RINGBUF`` map.

    Thread-safe.  Closing it discards reservations still outstanding.

    Requires Linux >= 6.1 and libbpf >= 1.1.
    """

    _kind = "user ring buffer"

    def __init__(self, map: MapAPI) -> None:
        super().__init__()
        self._resources = Resources()
        self._wlock = threading.RLock()
        self._outstanding: list[Sample] = []
        self._name = getattr(map, "name", "?")
        self._ptr: Any = None
        self._arm(self._resources.free)
        try:
            self._setup(map)
        except BaseException:
            self.close()
            raise

    def _setup(self, map: MapAPI) -> None:
        if not isinstance(map, MapAPI):
            raise TypeError(f"expected a Map or MapHandle, got {type(map).__name__}")
        if map.type != MapType.USER_RINGBUF:
            raise TypeError(f"map {map.name!r} is {a_or_an(map.type.libbpf_name)} map, not a "
                            "user_ringbuf")
        fd = map.fd
        self._epoll = select.epoll()
        self._resources.add(self._epoll.close)
        self._wakefd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        wakefd = self._wakefd
        self._resources.add(lambda: os.close(wakefd))
        self._epoll.register(wakefd, select.EPOLLIN)
        # Edge-triggered: the map reports EPOLLOUT whenever the ring is not completely
        # full, so level-triggered waiting for room for a larger record would spin.
        # The kernel wakes us each time a BPF program drained records.
        self._epoll.register(fd, select.EPOLLOUT | select.EPOLLET)
        ptr = check_ptr(lib.user_ring_buffer__new(fd, None), "user_ring_buffer__new",
                        f"map {map.name!r}")
        self._ptr = ptr
        self._resources.add(lambda: lib.user_ring_buffer__free(ptr))
        self._map = map
        self._max = map.max_entries
        map._adopt(self)
        raise_pending()  # a Ctrl-C during user_ring_buffer__new (closed by __init__)

    def _describe(self) -> str:
        return f"user ring buffer over map {getattr(self, '_name', '?')!r}"

    def __repr__(self) -> str:
        return f"<UserRingBuffer {self._name}{' closed' if self._closed else ''}>"

    def _shutdown(self) -> None:
        with self._wlock:
            for sample in self._outstanding:
                if self._ptr:
                    lib.user_ring_buffer__discard(self._ptr, sample._ptr)
                sample._state = _DISCARDED
            self._outstanding.clear()
        try:
            os.eventfd_write(self._wakefd, 1)
        except (OSError, AttributeError):
            pass

    def _release(self) -> None:
        self._resources.free()

    # -- writing -----------------------------------------------------------------------
    def _check_size(self, size: int) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"record size must be a positive int, not {size!r}")
        if (size + 8 + 7) & ~7 > self._max:
            raise ValueError(f"a record of {size} bytes does not fit in {self._describe()} "
                             f"({self._max} bytes, including an 8-byte header)")

    def _try_reserve(self, size: int) -> Sample | None:
        with self._wlock:
            if self._closed:
                raise ClosedError(self._describe())
            ptr = lib.user_ring_buffer__reserve(self._ptr, size)
            if not ptr:
                err = ctypes.get_errno() or errno.ENOSPC
                if err == errno.ENOSPC:
                    return None
                raise error_for(err, f"user_ring_buffer__reserve({size}) on "
                                f"{self._describe()} failed: {os.strerror(err)}",
                                call="user_ring_buffer__reserve", target=self._name)
            sample = Sample(self, ptr, size)
            self._outstanding.append(sample)
            raise_pending(sample.discard)  # a Ctrl-C meanwhile: nothing held back
            return sample

    def reserve(self, size: int) -> Sample:
        """Reserve a record of ``size`` bytes; raises BPFError (ENOSPC) if the ring
        has no room now (see :meth:`reserve_blocking`)."""
        self._check_size(size)
        with self._use():
            sample = self._try_reserve(size)
            if sample is None:
                raise BPFError(errno.ENOSPC, f"{self._describe()} is full: no room for "
                               f"{size} bytes until a BPF program drains it",
                               call="user_ring_buffer__reserve", target=self._name)
            return sample

    def reserve_blocking(self, size: int, timeout: float | None = None) -> Sample:
        """Reserve a record of ``size`` bytes, waiting up to ``timeout`` seconds (None:
        forever) for a BPF program to drain enough room; TimeoutError if it did not.
        Closing the buffer from another thread wakes the wait (ClosedError)."""
        self._check_size(size)
        timeout = _args.timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._use():
            while True:
                sample = self._try_reserve(size)
                if sample is not None:
                    return sample
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(errno.ETIMEDOUT, f"{self._describe()}: no room for "
                                       f"{size} bytes within {timeout} s")
                self._epoll.poll(-1 if remaining is None else min(remaining, 86400.0))
                if self._closed:
                    raise ClosedError(self._describe())

    def write(self, data: bytes | bytearray | memoryview | Any, *,
              timeout: float | None = 0.0) -> None:
        """Publish one record with the bytes of ``data`` (bytes-like or a ctypes
        value).  Waits up to ``timeout`` seconds for room (default: don't wait: raise
        BPFError ENOSPC when full; None: wait forever)."""
        raw = memoryview(data).cast("B") if not isinstance(data, memoryview) else \
            data.cast("B")
        size = raw.nbytes
        timeout = _args.timeout(timeout)
        sample = self.reserve(size) if timeout == 0 else self.reserve_blocking(size, timeout)
        try:
            sample[:] = raw
        except BaseException:
            sample.discard()
            raise
        sample.submit()

    def _finish(self, sample: Sample, submit: bool) -> None:
        with self._wlock:
            if sample._state != _RESERVED:
                what = "submitted" if sample._state == _SUBMITTED else "discarded"
                if self._closed and sample._state == _DISCARDED:
                    raise ClosedError(self._describe())
                raise ValueError(f"this sample was already {what}")
            if self._closed:
                raise ClosedError(self._describe())
            size = len(sample)
            if submit:
                src = (ctypes.c_char * size).from_buffer(sample)
                ctypes.memmove(sample._ptr, src, size)
                del src
                lib.user_ring_buffer__submit(self._ptr, sample._ptr)
            else:
                lib.user_ring_buffer__discard(self._ptr, sample._ptr)
            sample._state = _SUBMITTED if submit else _DISCARDED
            self._outstanding.remove(sample)
