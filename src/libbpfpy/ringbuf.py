"""Ring buffers (``BPF_MAP_TYPE_RINGBUF``): events from BPF programs.

(First cut over libbpf's ``ring_buffer__*``; the event-streams issue replaces it
with the direct mmap reader.)
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable

from ._lifetime import Owner
from ._raw import CALLBACKS, check_int, check_ptr, lib
from .map import MapAPI

__all__ = ["RingBuffer"]


class RingBuffer(Owner):
    """Read events from ring buffer maps with a callback per event."""

    _kind = "ring buffer"

    def __init__(self, map: MapAPI, callback: Callable[[Any], Any],
                 *, event_type: Any = None) -> None:
        super().__init__()
        self._type = event_type
        self._callback = callback
        self._error: BaseException | None = None

        def trampoline(_ctx: Any, data: int, size: int) -> int:
            try:
                raw = ctypes.string_at(data, size)
                ev = self._type.from_buffer_copy(raw) if self._type is not None else raw
                self._callback(ev)
                return 0
            except BaseException as exc:
                self._error = exc
                return -1

        self._cb = CALLBACKS["ring_buffer_sample_fn"](trampoline)
        self._ptr = check_ptr(lib.ring_buffer__new(map.fd, self._cb, None, None),
                              "ring_buffer__new", f"map {map.name!r}")
        self._arm(lib.ring_buffer__free, self._ptr)
        owner = getattr(map, "object", None)
        if owner is not None:
            owner._adopt(self)

    def _release(self) -> None:
        lib.ring_buffer__free(self._ptr)

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: forever) and handle available events."""
        self._check()
        ms = -1 if timeout is None else int(timeout * 1000)
        n = lib.ring_buffer__poll(self._ptr, ms)
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        if n == -4:  # EINTR
            return 0
        return check_int(n, "ring_buffer__poll")
