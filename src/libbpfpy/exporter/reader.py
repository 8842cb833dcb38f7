"""Reading a whole map for a scrape, in bulk.

:class:`MapReader` reads a loaded map through its own untyped handle (a duplicate
of the map's fd with no BTF codec), so keys come back as ints (1/2/4/8-byte keys)
or bytes and values as ints (per-CPU: a list of ints): no per-entry objects built
from BTF.  It reads with ``bpf_map_lookup_batch`` (many entries per system call,
Linux >= 5.6) and falls back to walking the keys where the kernel or the map type
has no batch operations.

This is the one place that reads map contents for the exporter: when maps gain a
numpy bulk read (``Map.to_numpy()``), ``read()`` switches to it and the callers,
which only iterate over (key, value) pairs, stay as they are.
"""
from __future__ import annotations

from typing import Any

from ..errors import NotSupportedError
from ..map import MapAPI, MapHandle

__all__ = ["MapReader"]

_CHUNK = 8192  # entries per batch system call


class MapReader:
    """Reads every (key, value) pair of one map."""

    def __init__(self, m: MapAPI) -> None:
        self._handle = MapHandle.from_fd(m.fd)
        self._chunk = max(1, min(_CHUNK, m.max_entries))
        self.batched = True

    def read(self) -> list[tuple[Any, Any]]:
        """Every (key, value) pair now in the map."""
        if self.batched:
            try:
                return self._handle.lookup_batch(chunk=self._chunk)
            except NotSupportedError:
                self.batched = False  # this kernel or map type: walk the keys from now on
        return list(self._handle.items())

    def close(self) -> None:
        """Release the handle."""
        self._handle.close()
