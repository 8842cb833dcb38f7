"""Config metrics bound to a BPF object's maps, and read into Prometheus metrics.

:func:`bind` checks a parsed :class:`~libbpfpy.exporter.config.Config` against the
opened (not yet loaded) object -- every map exists and holds what the metric needs,
every label fits the key, BTF fields exist -- so nothing reaches the kernel when a
config is wrong.  After load, each :class:`MapMetric` reads its map in bulk on every
scrape and turns the entries into a metric family:

* the label text of each distinct key is decoded once and kept while the key stays
  in the map, so a scrape of a large map costs a batch read and a dict lookup per
  entry, not a decoder chain per entry;
* entries whose labels decode alike are summed (Prometheus must never see a series
  twice); per-CPU values are summed across CPUs; an array's zero elements are not
  series (an array always holds every index).

An :class:`EventCounterMetric` instead consumes a ring or perf buffer in a
background thread and counts its records by the labels decoded from each.
"""
from __future__ import annotations

import bisect
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..enums import MapType
from ..errors import BPFError
from .config import Config, ConfigError, Counter, Histogram, KeyPart, Where
from .decoders import Decoder, default_chain, run_chain
from .reader import MapReader

if TYPE_CHECKING:
    from ..btf import BTF, BTFType
    from ..map import Map
    from ..object import Object

__all__ = ["Metric", "MapMetric", "CounterMetric", "HistogramMetric", "EventCounterMetric",
           "bind", "SUPPORTED_MAP_TYPES"]

log = logging.getLogger("libbpfpy.exporter")

SUPPORTED_MAP_TYPES = frozenset({
    MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
    MapType.LRU_HASH, MapType.LRU_PERCPU_HASH})
_ARRAYS = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY})
_DROP: Any = object()  # cached: "this key's series is dropped" (a regexp did not match)


@dataclass(frozen=True)
class Slice:
    """A part of the key: ``size`` bytes at ``offset``, and what they hold (``string``
    for char arrays, ``int`` for integers, else ``bytes``)."""

    offset: int
    size: int
    kind: str


# -- the key layout -------------------------------------------------------------------

def _struct_of(btf: BTF, t: BTFType | None) -> BTFType | None:
    from ..btf import Kind
    if t is None:
        return None
    r = btf.resolve(t.id)
    return r if r.kind in (Kind.STRUCT, Kind.UNION) else None


def _kind_of(btf: BTF, type_id: int) -> str:
    from ..btf import Kind
    t = btf.resolve(type_id)
    if t.kind == Kind.ARRAY:
        elem = btf.resolve(t.type_id)
        if elem.kind == Kind.INT and elem.size == 1:
            return "string"
        return "bytes"
    if t.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64, Kind.PTR):
        return "int"
    return "bytes"


def _find_member(btf: BTF, record: BTFType, path: str, base: int = 0
                 ) -> tuple[int, int, int] | None:
    """(byte offset, type id, bitfield size) of the member at dotted ``path``,
    looking through anonymous structs and unions."""
    head, _, rest = path.partition(".")
    for member in record.members:
        offset = base + member.bit_offset // 8
        if member.name == head:
            if not rest:
                return offset, member.type_id, member.bitfield_size
            inner = _struct_of(btf, btf[member.type_id])
            return None if inner is None else _find_member(btf, inner, rest, offset)
        if not member.name:
            inner = _struct_of(btf, btf[member.type_id])
            if inner is not None:
                found = _find_member(btf, inner, path, offset)
                if found is not None:
                    return found
    return None


class _Layout:
    """Resolves key parts to slices of a record (a map's key, or an event), in
    config order.  ``desc`` names the record in messages; ``size`` is None when
    it is not known (an event without an ``event_type``)."""

    def __init__(self, what: str, desc: str, size: int | None, btf: BTF | None,
                 record_type: BTFType | None) -> None:
        self.what = what
        self.desc = desc
        self.size = size
        self.btf = btf
        self.record_type = record_type
        self.record = _struct_of(btf, record_type) if btf is not None else None
        self.cursor = 0
        self.by_size_only = True

    def resolve(self, part: KeyPart, name: str) -> Slice:
        if part.field is not None:
            self.by_size_only = False
            return self._field(part, name)
        assert part.size is not None
        if part.offset is not None:
            self.by_size_only = False
            self.cursor = part.offset
        offset, size = self.cursor, part.size
        if self.size is not None and offset + size > self.size:
            raise ConfigError(part.where, f"{self.what}: {name} ({size} bytes at offset "
                              f"{offset}) does not fit {self.desc}, which is {self.size} "
                              "bytes")
        self.cursor = offset + size
        kind = "int" if size in (1, 2, 4, 8) else "bytes"
        if self.record is not None:
            # A size-given label over a struct: take the kind of the field there.
            for member in self.record.members:
                if member.bit_offset == offset * 8 and member.name and \
                        self.btf is not None and self.btf.size_of(member.type_id) == size:
                    kind = _kind_of(self.btf, member.type_id)
                    break
        return Slice(offset, size, kind)

    def _field(self, part: KeyPart, name: str) -> Slice:
        if self.btf is None or self.record is None:
            have = "no BTF type" if self.record_type is None or self.btf is None else \
                f"type {self.btf.type_name(self.record_type.id)!r}"
            raise ConfigError(part.where, f"{self.what}: {name} names field "
                              f"{part.field!r}, but {self.desc} has {have} (not a "
                              "struct): give its size instead")
        found = _find_member(self.btf, self.record, part.field or "")
        if found is None:
            fields = ", ".join(m.name for m in self.record.members if m.name)
            raise ConfigError(part.where, f"{self.what}: {name}: {self.desc} "
                              f"({self.btf.type_name(self.record.id)}) has no field "
                              f"{part.field!r} (it has: {fields})")
        offset, type_id, bits = found
        if bits:
            raise ConfigError(part.where, f"{self.what}: {name}: field {part.field!r} is a "
                              "bitfield, which a label cannot take")
        size = self.btf.size_of(type_id)
        if part.size is not None and part.size != size:
            raise ConfigError(part.where, f"{self.what}: {name}: size {part.size} does not "
                              f"match field {part.field!r}, which is {size} bytes "
                              f"({self.btf.type_name(type_id)})")
        self.cursor = offset + size
        return Slice(offset, size, _kind_of(self.btf, type_id))

    def check_covered(self, where: Where, end: int) -> None:
        """With labels given only by size, they must add up to the key exactly: a
        mismatch is almost always a wrong size."""
        if self.by_size_only and end != self.size:
            raise ConfigError(where, f"{self.what}: the labels take {end} bytes, but "
                              f"{self.desc} is {self.size} bytes: check the label sizes")


def _chain_for(label_where: Where, what: str, s: Slice,
               decoders: list[Decoder] | None) -> list[Decoder]:
    chain = decoders if decoders is not None else default_chain(s.kind, s.size)
    if chain:
        problem = chain[0].check_size(s.size)
        if problem:
            raise ConfigError(label_where, f"{what}: decoder {chain[0].name!r} {problem}")
    return chain


# -- metrics ------------------------------------------------------------------------------

Labels = list[tuple[str, Slice, list[Decoder]]]


class Metric:
    """One configured metric of a loaded object: its name, labels and how their
    text is decoded from the bytes of a record."""

    kind = "metric"

    def __init__(self, config: str, spec: Counter | Histogram, m: Map, labels: Labels,
                 namespace: str) -> None:
        self.config = config
        self.spec = spec
        self.map_name = m.name
        self.full_name = f"{namespace}_{spec.name}" if namespace else spec.name
        self.label_names = [name for name, _, _ in labels]
        self._labels = [(s.offset, s.offset + s.size, chain) for _, s, chain in labels]
        self._map = m
        self.read_errors = 0
        self.entries = 0
        self.read_seconds = 0.0

    def _decode_labels(self, raw: bytes) -> tuple[str, ...] | None:
        out = []
        for start, end, chain in self._labels:
            text = run_chain(chain, raw[start:end])
            if text is None:
                return None
            out.append(text)
        return tuple(out)

    def open(self) -> None:  # pragma: no cover - abstract
        """Start reading (the object is loaded)."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        """Stop reading and release what reading took."""
        raise NotImplementedError

    def collect(self) -> Iterator[Any]:  # pragma: no cover - abstract
        """The metric's families, as of now."""
        raise NotImplementedError

    def events_lost(self) -> int | None:
        """Records lost before they reached the exporter (event counters), else None."""
        return None


class MapMetric(Metric):
    """A metric read from a map of counts on every scrape."""

    def __init__(self, config: str, spec: Counter | Histogram, m: Map, labels: Labels,
                 namespace: str) -> None:
        super().__init__(config, spec, m, labels, namespace)
        self._key_size = m.key_size
        self._skip_zero = m.type in _ARRAYS
        self._reader: MapReader | None = None
        self._cache: dict[Any, tuple[Any, ...]] = {}

    def open(self) -> None:
        self._reader = MapReader(self._map)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _key_bytes(self, key: Any) -> bytes:
        if isinstance(key, int):
            return key.to_bytes(self._key_size, sys.byteorder)
        return bytes(key)

    def _read(self) -> list[tuple[Any, Any]] | None:
        assert self._reader is not None, "open() first"
        start = time.perf_counter()
        try:
            entries = self._reader.read()
        except (BPFError, OSError) as exc:
            self.read_errors += 1
            if self.read_errors == 1 or self.read_errors % 100 == 0:
                log.error("%s: reading map %r for %s failed (%d times so far): %s",
                          self.config, self.map_name, self.full_name, self.read_errors, exc)
            return None
        self.entries = len(entries)
        self.read_seconds = time.perf_counter() - start
        return entries

    def _labelled(self, entries: list[tuple[Any, Any]],
                  label: Callable[[bytes], Any]) -> Iterator[tuple[Any, int]]:
        """(what ``label(key bytes)`` gave, value summed over CPUs) for each entry
        worth a sample; ``label`` returns None to drop a key.  Its answers are kept per
        key, and keys gone from the map are forgotten once the walk ends."""
        cache = self._cache
        seen: dict[Any, Any] = {}
        skip_zero = self._skip_zero
        for key, value in entries:
            if value.__class__ is list:
                value = sum(value)
            if skip_zero and not value:
                continue
            got = cache.get(key)
            if got is None:
                got = label(self._key_bytes(key))
                if got is None:
                    got = _DROP
            seen[key] = got
            if got is not _DROP:
                yield got, value
        self._cache = seen


class CounterMetric(MapMetric):
    """A counter: one series per label set, valued by the sum of its map values."""

    kind = "counter"

    def totals(self) -> dict[tuple[str, ...], int] | None:
        """Label values -> total, read from the map now (None if it could not be read)."""
        entries = self._read()
        if entries is None:
            return None
        start = time.perf_counter()
        totals: dict[tuple[str, ...], int] = {}
        for labels, value in self._labelled(entries, self._decode_labels):
            totals[labels] = totals.get(labels, 0) + value
        self.read_seconds += time.perf_counter() - start
        return totals

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily
        totals = self.totals()
        if totals is None:
            return
        family = CounterMetricFamily(self.full_name, self.spec.help, labels=self.label_names)
        for labels, total in totals.items():
            family.add_metric(labels, total)
        yield family


class HistogramMetric(MapMetric):
    """A histogram: the key's last part (``bucket_key``) is the slot."""

    kind = "histogram"

    def __init__(self, config: str, spec: Histogram, m: Map, labels: Labels, slot: Slice,
                 namespace: str) -> None:
        super().__init__(config, spec, m, labels, namespace)
        self.hist = spec
        self._slot = (slot.offset, slot.offset + slot.size)
        self.sum_slot = (1 << (8 * slot.size)) - 1
        self.slots = spec.slots()
        from prometheus_client.utils import floatToGoString
        self.bounds = [str(floatToGoString(spec.upper_bound(s)))  # type: ignore[no-untyped-call]
                       for s in self.slots]

    def _labels_and_slot(self, raw: bytes) -> tuple[tuple[str, ...], int] | None:
        labels = self._decode_labels(raw)
        if labels is None:
            return None
        start, end = self._slot
        return labels, int.from_bytes(raw[start:end], sys.byteorder)

    def buckets(self) -> dict[tuple[str, ...], tuple[list[int], int, int]] | None:
        """Label values -> (count per bucket, count of slots above the last bucket,
        raw sum), read from the map now (None if it could not be read)."""
        entries = self._read()
        if entries is None:
            return None
        start = time.perf_counter()
        out: dict[tuple[str, ...], tuple[list[int], int, int]] = {}
        slots, nbuckets, sum_slot = self.slots, len(self.slots), self.sum_slot
        for (labels, slot), value in self._labelled(entries, self._labels_and_slot):
            counts, over, total = out.get(labels) or ([0] * nbuckets, 0, 0)
            if slot == sum_slot:
                total += value
            else:
                # the first bucket whose slot is >= this one: its bound covers it
                i = bisect.bisect_left(slots, slot)
                if i < nbuckets:
                    counts[i] += value
                else:
                    over += value
            out[labels] = (counts, over, total)
        self.read_seconds += time.perf_counter() - start
        return out

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import HistogramMetricFamily
        groups = self.buckets()
        if groups is None:
            return
        family = HistogramMetricFamily(self.full_name, self.spec.help,
                                       labels=self.label_names)
        multiplier = self.hist.bucket_multiplier
        for labels, (counts, over, total) in groups.items():
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(self.bounds, counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            buckets.append(("+Inf", cumulative + over))
            family.add_metric(labels, buckets, total * multiplier)
        yield family


class EventCounterMetric(Metric):
    """A counter of the records of a ring buffer or perf buffer, which a background
    thread consumes: each record adds 1 to the series of its labels."""

    kind = "counter"

    def __init__(self, config: str, spec: Counter, m: Map, labels: Labels, namespace: str,
                 obj: Object) -> None:
        super().__init__(config, spec, m, labels, namespace)
        self.counter = spec
        self._obj = obj
        self._need = max((end for _, end, _ in self._labels), default=0)
        self._counts: dict[tuple[str, ...], int] = {}
        self._cache: dict[bytes, Any] = {}
        self._lock = threading.Lock()
        self._reader: Any = None
        self.short = 0  # records too short for the labels (not counted)

    def open(self, *, start: bool = True) -> None:
        """Start consuming the buffer from a background thread (``start=False``: the
        caller consumes, with ``reader.consume()``)."""
        if self._map.type == MapType.RINGBUF:
            from ..ringbuf import RingBuffer
            self._reader = RingBuffer(self._map, self._on_record)
        else:
            from ..perfbuf import PerfBuffer
            self._reader = PerfBuffer(self._map, lambda _cpu, raw: self._on_record(raw),
                                      page_count=self.counter.buffer_pages)
        if start:
            self._reader.start()

    @property
    def reader(self) -> Any:
        """The RingBuffer or PerfBuffer being consumed (None before open())."""
        return self._reader

    def _on_record(self, raw: bytes) -> None:
        if len(raw) < self._need:
            self.short += 1
            return
        key = b"".join(raw[a:b] for a, b, _ in self._labels)
        labels = self._cache.get(key)
        if labels is None:
            decoded = self._decode_labels(raw)
            labels = _DROP if decoded is None else decoded
            self._cache[key] = labels
        if labels is _DROP:
            return
        with self._lock:
            self._counts[labels] = self._counts.get(labels, 0) + 1

    def totals(self) -> dict[tuple[str, ...], int]:
        """Label values -> records counted so far."""
        with self._lock:
            counts = dict(self._counts)
        self.entries = len(counts)
        return counts

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily
        family = CounterMetricFamily(self.full_name, self.spec.help, labels=self.label_names)
        for labels, total in self.totals().items():
            family.add_metric(labels, total)
        yield family

    def events_lost(self) -> int | None:
        lost = int(getattr(self._reader, "lost", 0) or 0)  # a perf buffer's lost samples
        name = self.counter.lost_counter
        if name is not None and not self._obj.closed:
            lost += int(self._obj.globals[name])
        return lost

    def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.stop(5)
            finally:
                reader.close()


# -- binding --------------------------------------------------------------------------------

def _map_for(config: Config, spec: Counter | Histogram, obj: Object) -> Map:
    what = f"{spec.__class__.__name__.lower()} {spec.name!r}"
    maps = obj.maps
    if spec.map not in maps:
        names = ", ".join(n for n, m in maps.items() if not m.is_internal) or "none"
        raise ConfigError(spec.where, f"{what}: map {spec.map!r} not found in the BPF "
                          f"object of {config.name!r} (its maps: {names})")
    m = maps[spec.map]
    if m.type not in SUPPORTED_MAP_TYPES:
        raise ConfigError(spec.where, f"{what}: map {spec.map!r} is a {m.type.libbpf_name} "
                          "map; metrics are read from hash, array, lru_hash and their "
                          "per-CPU kinds")
    if m.value_size not in (1, 2, 4, 8):
        raise ConfigError(spec.where, f"{what}: map {spec.map!r} holds {m.value_size}-byte "
                          "values; a metric needs an unsigned integer (1, 2, 4 or 8 bytes)")
    if m.key_size == 0:
        raise ConfigError(spec.where, f"{what}: map {spec.map!r} has no key")
    return m


def _bind_events(config: Config, spec: Counter, obj: Object, namespace: str
                 ) -> EventCounterMetric:
    from ..btf import Kind
    what = f"counter {spec.name!r}"
    maps = obj.maps
    if spec.map not in maps:
        names = ", ".join(n for n, m in maps.items() if not m.is_internal) or "none"
        raise ConfigError(spec.where, f"{what}: map {spec.map!r} not found in the BPF "
                          f"object of {config.name!r} (its maps: {names})")
    m = maps[spec.map]
    if m.type not in (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY):
        raise ConfigError(spec.where, f"{what}: events come from a ringbuf or "
                          f"perf_event_array map; {spec.map!r} is {m.type.libbpf_name}")
    btf = obj.btf
    record = None
    if spec.event_type is not None:
        record = None if btf is None else (btf.find(spec.event_type, Kind.STRUCT) or
                                           btf.find(spec.event_type, Kind.UNION))
        if record is None or btf is None:
            raise ConfigError(spec.where, f"{what}: no struct {spec.event_type!r} in the "
                              f"BTF of {config.name!r}'s object")
    size = btf.size_of(record.id) if record is not None and btf is not None else None
    desc = f"event {spec.event_type!r}" if spec.event_type else f"an event of {spec.map!r}"
    layout = _Layout(what, desc, size, btf, record)
    labels = _labels_of(spec, layout, what)
    _check_overlap(spec.where, what, [s for _, s, _ in labels])
    if spec.lost_counter is not None and spec.lost_counter not in obj.globals:
        raise ConfigError(spec.where, f"{what}: lost_counter {spec.lost_counter!r} is not "
                          f"a global variable of {config.name!r}'s object")
    return EventCounterMetric(config.name, spec, m, labels, namespace, obj)


def _labels_of(spec: Counter | Histogram, layout: _Layout, what: str) -> Labels:
    labels: Labels = []
    for label in spec.labels:
        s = layout.resolve(label.part, f"label {label.name!r}")
        labels.append((label.name, s, _chain_for(label.where, what, s, label.decoders)))
    return labels


def bind(config: Config, obj: Object, *, namespace: str = "libbpfpy") -> list[Metric]:
    """Check ``config`` against the opened ``obj`` and return its metrics, ready to
    :meth:`~Metric.open` once the object is loaded.  Raises :class:`ConfigError`."""
    btf = obj.btf
    out: list[Metric] = []
    for spec in config.metrics:
        if isinstance(spec, Counter) and spec.events:
            out.append(_bind_events(config, spec, obj, namespace))
            continue
        m = _map_for(config, spec, obj)
        what = f"{spec.__class__.__name__.lower()} {spec.name!r}"
        key_type = btf.map_types(m)[0] if btf is not None else None
        layout = _Layout(what, f"map {m.name!r}'s key", m.key_size, btf, key_type)
        labels = _labels_of(spec, layout, what)
        end = max((s.offset + s.size for _, s, _ in labels), default=0)
        if isinstance(spec, Histogram):
            part = spec.bucket_key
            if part is None:
                rest = m.key_size - layout.cursor
                if rest not in (1, 2, 4, 8):
                    raise ConfigError(spec.where, f"{what}: after the labels, map "
                                      f"{m.name!r}'s key has {rest} bytes left for the "
                                      "slot: give 'bucket_key' (a field, or a size)")
                part = KeyPart(spec.where, size=rest)
            slot = layout.resolve(part, "bucket_key")
            if slot.size > 8 or slot.kind == "string":
                raise ConfigError(part.where, f"{what}: bucket_key must be an integer of "
                                  f"1 to 8 bytes, not {slot.size} bytes of {slot.kind}")
            end = max(end, slot.offset + slot.size)
            layout.check_covered(spec.where, end)
            _check_overlap(spec.where, what, [s for _, s, _ in labels] + [slot])
            out.append(HistogramMetric(config.name, spec, m, labels, slot, namespace))
        else:
            layout.check_covered(spec.where, end)
            _check_overlap(spec.where, what, [s for _, s, _ in labels])
            out.append(CounterMetric(config.name, spec, m, labels, namespace))
    return out


def _check_overlap(where: Where, what: str, slices: list[Slice]) -> None:
    spans = sorted((s.offset, s.offset + s.size) for s in slices)
    for (a0, a1), (b0, _b1) in zip(spans, spans[1:], strict=False):
        if b0 < a1:
            raise ConfigError(where, f"{what}: key parts overlap (bytes {a0}-{a1 - 1} and "
                              f"from {b0})")
