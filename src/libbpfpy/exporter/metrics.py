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
"""
from __future__ import annotations

import bisect
import logging
import sys
import time
from collections.abc import Iterator
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

__all__ = ["MapMetric", "CounterMetric", "HistogramMetric", "bind", "SUPPORTED_MAP_TYPES"]

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
    """Resolves key parts to slices of a map's key, in config order."""

    def __init__(self, what: str, m: Map, btf: BTF | None) -> None:
        self.what = what
        self.map = m
        self.key_size = m.key_size
        self.btf = btf
        key_t = btf.map_types(m)[0] if btf is not None else None
        self.key_type = key_t
        self.record = _struct_of(btf, key_t) if btf is not None else None
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
        if offset + size > self.key_size:
            raise ConfigError(part.where, f"{self.what}: {name} ({size} bytes at offset "
                              f"{offset}) does not fit map {self.map.name!r}'s "
                              f"{self.key_size}-byte key")
        self.cursor = offset + size
        kind = "int" if size in (1, 2, 4, 8) else "bytes"
        if self.record is not None:
            # A size-given label over a struct key: take the kind of the field there.
            for member in self.record.members:
                if member.bit_offset == offset * 8 and member.name and \
                        self.btf is not None and self.btf.size_of(member.type_id) == size:
                    kind = _kind_of(self.btf, member.type_id)
                    break
        return Slice(offset, size, kind)

    def _field(self, part: KeyPart, name: str) -> Slice:
        if self.btf is None or self.record is None:
            have = "no BTF type" if self.key_type is None or self.btf is None else \
                f"type {self.btf.type_name(self.key_type.id)!r}"
            raise ConfigError(part.where, f"{self.what}: {name} names field "
                              f"{part.field!r}, but map {self.map.name!r}'s key has {have} "
                              "(not a struct): give its size instead")
        found = _find_member(self.btf, self.record, part.field or "")
        if found is None:
            fields = ", ".join(m.name for m in self.record.members if m.name)
            raise ConfigError(part.where, f"{self.what}: {name}: map {self.map.name!r}'s "
                              f"key ({self.btf.type_name(self.record.id)}) has no field "
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
        if self.by_size_only and end != self.key_size:
            raise ConfigError(where, f"{self.what}: the labels take {end} bytes, but map "
                              f"{self.map.name!r}'s key is {self.key_size} bytes: check "
                              "the label sizes")


def _chain_for(label_where: Where, what: str, s: Slice,
               decoders: list[Decoder] | None) -> list[Decoder]:
    chain = decoders if decoders is not None else default_chain(s.kind, s.size)
    if chain:
        problem = chain[0].check_size(s.size)
        if problem:
            raise ConfigError(label_where, f"{what}: decoder {chain[0].name!r} {problem}")
    return chain


# -- metrics ------------------------------------------------------------------------------

class MapMetric:
    """One configured metric over one map of a loaded object."""

    kind = "metric"

    def __init__(self, config: str, spec: Counter | Histogram, m: Map,
                 labels: list[tuple[str, Slice, list[Decoder]]], namespace: str) -> None:
        self.config = config
        self.spec = spec
        self.map_name = m.name
        self.full_name = f"{namespace}_{spec.name}" if namespace else spec.name
        self.label_names = [name for name, _, _ in labels]
        self._labels = [(s.offset, s.offset + s.size, chain) for _, s, chain in labels]
        self._key_size = m.key_size
        self._skip_zero = m.type in _ARRAYS
        self._map = m
        self._reader: MapReader | None = None
        self._cache: dict[Any, tuple[Any, ...]] = {}
        self.read_errors = 0
        self.entries = 0
        self.read_seconds = 0.0

    def open(self) -> None:
        """Start reading the (now loaded) map."""
        self._reader = MapReader(self._map)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _key_bytes(self, key: Any) -> bytes:
        if isinstance(key, int):
            return key.to_bytes(self._key_size, sys.byteorder)
        return bytes(key)

    def _decode_labels(self, raw: bytes) -> tuple[str, ...] | None:
        out = []
        for start, end, chain in self._labels:
            text = run_chain(chain, raw[start:end])
            if text is None:
                return None
            out.append(text)
        return tuple(out)

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

    def collect(self) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError


class CounterMetric(MapMetric):
    """A counter: one series per label set, valued by the sum of its map values."""

    kind = "counter"

    def totals(self) -> dict[tuple[str, ...], int] | None:
        """Label values -> total, read from the map now (None if it could not be read)."""
        entries = self._read()
        if entries is None:
            return None
        start = time.perf_counter()
        cache = self._cache
        seen: dict[Any, tuple[Any, ...]] = {}
        totals: dict[tuple[str, ...], int] = {}
        skip_zero = self._skip_zero
        for key, value in entries:
            if value.__class__ is list:
                value = sum(value)
            if skip_zero and not value:
                continue
            labels = cache.get(key)
            if labels is None:
                decoded = self._decode_labels(self._key_bytes(key))
                labels = _DROP if decoded is None else decoded
            seen[key] = labels
            if labels is _DROP:
                continue
            totals[labels] = totals.get(labels, 0) + value
        self._cache = seen  # keys gone from the map are forgotten
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

    def __init__(self, config: str, spec: Histogram, m: Map,
                 labels: list[tuple[str, Slice, list[Decoder]]], slot: Slice,
                 namespace: str) -> None:
        super().__init__(config, spec, m, labels, namespace)
        self.hist = spec
        self._slot = (slot.offset, slot.offset + slot.size)
        self.sum_slot = (1 << (8 * slot.size)) - 1
        self.slots = spec.slots()
        from prometheus_client.utils import floatToGoString
        self.bounds = [str(floatToGoString(spec.upper_bound(s)))  # type: ignore[no-untyped-call]
                       for s in self.slots]

    def _decode_slot(self, raw: bytes) -> int:
        start, end = self._slot
        return int.from_bytes(raw[start:end], sys.byteorder)

    def buckets(self) -> dict[tuple[str, ...], tuple[list[int], int, int]] | None:
        """Label values -> (count per bucket, count of slots above the last bucket,
        raw sum), read from the map now (None if it could not be read)."""
        entries = self._read()
        if entries is None:
            return None
        start = time.perf_counter()
        cache = self._cache
        seen: dict[Any, tuple[Any, ...]] = {}
        out: dict[tuple[str, ...], tuple[list[int], int, int]] = {}
        slots, nbuckets, sum_slot = self.slots, len(self.slots), self.sum_slot
        skip_zero = self._skip_zero
        for key, value in entries:
            if value.__class__ is list:
                value = sum(value)
            if skip_zero and not value:
                continue
            cached = cache.get(key)
            if cached is None:
                raw = self._key_bytes(key)
                labels = self._decode_labels(raw)
                cached = _DROP if labels is None else (labels, self._decode_slot(raw))
            seen[key] = cached
            if cached is _DROP:
                continue
            labels, slot = cached
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
        self._cache = seen
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


def bind(config: Config, obj: Object, *, namespace: str = "libbpfpy") -> list[MapMetric]:
    """Check ``config`` against the opened ``obj`` and return its metrics, ready to
    :meth:`~MapMetric.open` once the object is loaded.  Raises :class:`ConfigError`."""
    btf = obj.btf
    out: list[MapMetric] = []
    for spec in config.metrics:
        m = _map_for(config, spec, obj)
        what = f"{spec.__class__.__name__.lower()} {spec.name!r}"
        layout = _Layout(what, m, btf)
        labels: list[tuple[str, Slice, list[Decoder]]] = []
        end = 0
        for label in spec.labels:
            s = layout.resolve(label.part, f"label {label.name!r}")
            end = max(end, s.offset + s.size)
            labels.append((label.name, s, _chain_for(label.where, what, s, label.decoders)))
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
