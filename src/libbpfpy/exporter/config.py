"""Exporter configuration files: YAML, checked before anything is loaded.

One config ``<name>.yaml`` describes the metrics read from the maps of the BPF
object ``<name>.bpf.o`` (or ``<name>.bpf.c``, compiled on first use)::

    metrics:
      counters:
        - name: syscalls_total            # counters end in _total
          help: System calls entered, by command and call
          map: syscall_counts             # the BPF map holding the counts
          labels:
            - name: comm
              field: comm                 # a field of the key struct (BTF) ...
              decoders: [{name: string}]
            - name: syscall
              size: 4                     # ... or a size in bytes, in key order
              decoders: [{name: uint}, {name: syscall}]
      histograms:
        - name: syscall_latency_seconds
          help: Time spent in system calls
          map: syscall_latency
          bucket_type: exp2               # exp2, linear or fixed
          bucket_min: 0
          bucket_max: 34
          bucket_multiplier: 1.0e-9       # slot bounds are in ns: export seconds
          bucket_key: {field: slot}       # the key part holding the slot
          labels: []

YAML rather than TOML: lists of labels, each with a list of decoders, read more
naturally in YAML; PyYAML reports the line of every node, so an error names the
file and line it comes from (``tomllib`` reports positions only for syntax errors);
it is the format of Cloudflare's ebpf_exporter, whose users can carry their configs
over; and ``tomllib`` needs Python 3.11 where libbpfpy supports 3.10.

Parsing checks everything that does not need the BPF object (keys, types, metric
and label names, decoder names, options and how decoders chain, bucket settings);
:mod:`libbpfpy.exporter.metrics` checks the rest against the opened object (maps,
sizes, BTF fields).  Every problem is a :class:`ConfigError` naming file and line.
"""
from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import BPFError
from .decoders import Decoder, DecoderError, build_chain

__all__ = ["ConfigError", "Where", "KeyPart", "Label", "Counter", "Histogram", "Config",
           "load_config", "parse_config", "BUCKET_TYPES"]

BUCKET_TYPES = ("exp2", "linear", "fixed")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_CONFIG_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_MAX_NODES = 100_000        # values in one config, aliases expanded
MAX_CONFIG_BYTES = 1 << 20  # a config file larger than this is refused

T = TypeVar("T")


class ConfigError(BPFError):
    """A config file is wrong; ``path`` and ``line`` say where (``str()`` starts with
    ``path:line:``)."""

    def __init__(self, where: Where, message: str) -> None:
        super().__init__(errno.EINVAL, f"{where}: {message}", call="config",
                         target=where.path)
        self.path = where.path
        self.line = where.line
        self.reason = message


@dataclass(frozen=True)
class Where:
    """A position in a config file (lines count from 1; 0 for the whole file)."""

    path: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


# -- YAML with positions ---------------------------------------------------------------

class Section(dict[Any, Any]):
    """A YAML mapping that remembers where it and each of its values came from."""

    where: Where
    lines: dict[Any, int]

    def at(self, key: Any) -> Where:
        """Where the value of ``key`` is (or the mapping itself when it is absent)."""
        line = self.lines.get(key)
        return Where(self.where.path, line) if line else self.where


class Items(list[Any]):
    """A YAML sequence that remembers where each item came from."""

    where: Where
    lines: list[int]

    def at(self, index: int) -> Where:
        """Where item ``index`` is."""
        return Where(self.where.path, self.lines[index])


def _load_yaml(text: str, path: str) -> Any:
    import yaml
    from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # characters YAML does not allow
        raise ConfigError(Where(path), f"not valid YAML: {_first_line(exc)}") from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(path, exc) from None
        except yaml.YAMLError as exc:
            raise ConfigError(Where(path), f"not valid YAML: {_first_line(exc)}") from None
        except RecursionError:
            raise ConfigError(Where(path), "not valid YAML: nested too deeply") from None

        budget = [_MAX_NODES]
        path_nodes: set[int] = set()

        def convert(node: Node) -> Any:
            where = Where(path, node.start_mark.line + 1)
            # Aliases can make a small file expand without bound (or loop):
            # refuse both rather than hang.
            budget[0] -= 1
            if budget[0] < 0:
                raise ConfigError(where, f"more than {_MAX_NODES} values (aliases "
                                  "expanding?)")
            if id(node) in path_nodes:
                raise ConfigError(where, "an alias refers to itself")
            if isinstance(node, (MappingNode, SequenceNode)):
                path_nodes.add(id(node))
                try:
                    return convert_collection(node, where)
                finally:
                    path_nodes.discard(id(node))
            try:
                return loader.construct_object(node)
            except yaml.MarkedYAMLError as exc:
                raise _yaml_error(path, exc) from None

        def convert_collection(node: Node, where: Where) -> Any:
            if node.tag not in _COLLECTION_TAGS:
                raise ConfigError(where, f"not valid YAML here: tag {node.tag!r}")
            if isinstance(node, MappingNode):
                loader.flatten_mapping(node)  # YAML merge keys (<<)
                out = Section()
                out.where, out.lines = where, {}
                for knode, vnode in node.value:
                    if not isinstance(knode, ScalarNode):
                        raise ConfigError(where, "mapping keys must be plain names")
                    key = loader.construct_object(knode)
                    if not isinstance(key, (str, int)):
                        raise ConfigError(Where(path, knode.start_mark.line + 1),
                                          f"mapping key {key!r} is not a name or number")
                    if key in out:
                        raise ConfigError(Where(path, knode.start_mark.line + 1),
                                          f"{key!r} is given twice")
                    out[key] = convert(vnode)
                    out.lines[key] = vnode.start_mark.line + 1
                return out
            items = Items(convert(n) for n in node.value)
            items.where, items.lines = where, [n.start_mark.line + 1 for n in node.value]
            return items

        try:
            return None if root is None else convert(root)
        except yaml.MarkedYAMLError as exc:  # e.g. a merge key (<<) of a non-mapping
            raise _yaml_error(path, exc) from None
        except yaml.YAMLError as exc:
            raise ConfigError(Where(path), f"not valid YAML: {_first_line(exc)}") from None
        except RecursionError:
            raise ConfigError(Where(path), "nested too deeply") from None
    finally:
        loader.dispose()


def _yaml_error(path: str, exc: Any) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    what = " ".join(p for p in (exc.context, exc.problem) if p) or _first_line(exc)
    return ConfigError(Where(path, line), f"not valid YAML: {what}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- the model -----------------------------------------------------------------------------

@dataclass
class KeyPart:
    """Where a label (or a histogram's slot) is in the map key: a BTF ``field`` of the
    key struct (dotted for nested structs), or ``size`` bytes at ``offset`` (the end
    of the previous part when not given)."""

    where: Where
    field: str | None = None
    size: int | None = None
    offset: int | None = None


@dataclass
class Label:
    """A label of a metric: its name, where it is in the key, how its bytes become
    text (``decoders``, applied in order; None when the config gives none and the
    default for the key part's type is to be used)."""

    name: str
    part: KeyPart
    decoders: list[Decoder] | None
    where: Where


@dataclass
class Counter:
    """A counter read from a map: one series per distinct label set, valued by the
    sum of the map values (per-CPU values summed) of the keys with those labels.

    With ``events`` instead of ``map``, a counter of the records of a ring buffer or
    perf buffer, which the exporter consumes: labels are parts of each record
    (fields of the BTF struct ``event_type``, or sizes), and each record adds 1.
    ``lost_counter`` names a global variable in which the program counts records it
    could not write (a failed ``bpf_ringbuf_reserve``); ``buffer_pages`` is the size
    of each CPU's perf buffer."""

    name: str
    help: str
    map: str
    labels: list[Label]
    where: Where
    events: bool = False
    event_type: str | None = None
    lost_counter: str | None = None
    buffer_pages: int = 64


@dataclass
class Histogram:
    """A histogram read from a map whose key holds the labels and a slot number.

    A slot's upper bound is ``2**slot`` (exp2), ``slot`` (linear) or the slot number
    itself from ``bucket_keys`` (fixed), times ``bucket_multiplier``; slots above
    ``bucket_max`` count only towards ``+Inf``, slots below ``bucket_min`` towards the
    first bucket.  The slot with every bit set (``0xffffffff`` for a 4-byte slot)
    holds the sum of the observed values, exported as ``_sum``."""

    name: str
    help: str
    map: str
    labels: list[Label]
    bucket_key: KeyPart | None
    bucket_type: str
    bucket_min: int
    bucket_max: int
    bucket_multiplier: float
    bucket_keys: list[int]
    where: Where

    def slots(self) -> list[int]:
        """The slot numbers that have a bucket of their own, ascending."""
        if self.bucket_type == "fixed":
            return sorted(self.bucket_keys)
        return list(range(self.bucket_min, self.bucket_max + 1))

    def upper_bound(self, slot: int) -> float:
        """The ``le`` of ``slot``'s bucket."""
        if self.bucket_type == "exp2":
            return float(2 ** slot) * self.bucket_multiplier
        return slot * self.bucket_multiplier


@dataclass
class Config:
    """One parsed config file: its name, where it is, and its metrics."""

    name: str
    path: str
    counters: list[Counter] = field(default_factory=list)
    histograms: list[Histogram] = field(default_factory=list)

    @property
    def metrics(self) -> list[Counter | Histogram]:
        """Counters, then histograms."""
        return [*self.counters, *self.histograms]


# -- reading sections --------------------------------------------------------------------

def _check_keys(sec: Section, allowed: tuple[str, ...], what: str) -> None:
    for key in sec:
        if key not in allowed:
            raise ConfigError(sec.at(key), f"{what}: unknown setting {key!r} (known: "
                              f"{', '.join(allowed)})")


def _get(sec: Section, key: str, kind: type[T] | tuple[type, ...], what: str, *,
         default: Any = ..., check: Callable[[Any], str | None] | None = None) -> Any:
    if key not in sec:
        if default is ...:
            raise ConfigError(sec.where, f"{what}: {key!r} is required")
        return default
    value = sec[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # YAML's booleans are ints to Python: never accept one where a number is meant.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise ConfigError(sec.at(key), f"{what}: {key!r} must be {names}, not "
                          f"{_describe(value)}")
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(sec.at(key), f"{what}: {key!r} {problem}")
    return value


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", Section: "a mapping",
               Items: "a list", bool: "true or false"}


def _describe(value: Any) -> str:
    if isinstance(value, Section):
        return "a mapping"
    if isinstance(value, Items):
        return "a list"
    if value is None:
        return "empty"
    return repr(value)


def _nonneg(v: int) -> str | None:
    return "must not be negative" if v < 0 else None


def _positive(v: int) -> str | None:
    return "must be positive" if v <= 0 else None


def _list_of_sections(sec: Section, key: str, what: str) -> Iterator[Section]:
    items = _get(sec, key, Items, what, default=None)
    if items is None:
        return
    for i, item in enumerate(items):
        if not isinstance(item, Section):
            raise ConfigError(items.at(i), f"{what}: each entry of {key!r} must be a "
                              f"mapping, not {_describe(item)}")
        yield item


def _key_part(sec: Section, what: str) -> KeyPart:
    name = _get(sec, "field", str, what, default=None)
    size = _get(sec, "size", int, what, default=None, check=_positive)
    offset = _get(sec, "offset", int, what, default=None, check=_nonneg)
    if name is None and size is None:
        raise ConfigError(sec.where, f"{what}: give 'field' (a field of the key's BTF "
                          "struct) or 'size' (bytes)")
    if name is not None and offset is not None:
        raise ConfigError(sec.at("offset"), f"{what}: 'offset' is for labels given by "
                          "size; a field's offset comes from BTF")
    return KeyPart(sec.where, field=name, size=size, offset=offset)


def _label(sec: Section, metric: str) -> Label:
    _check_keys(sec, ("name", "field", "size", "offset", "decoders"), f"label of {metric}")
    name = _get(sec, "name", str, f"a label of {metric}")
    what = f"label {name!r} of {metric}"
    if not _LABEL_NAME.match(name) or name.startswith("__"):
        raise ConfigError(sec.at("name"), f"{what}: not a valid Prometheus label name")
    if name == "le":
        raise ConfigError(sec.at("name"), f"{what}: 'le' is reserved for histogram buckets")
    part = _key_part(sec, what)
    decoders: list[Decoder] | None = None
    if "decoders" in sec:
        specs = _get(sec, "decoders", Items, what)
        chain: list[tuple[str, dict[str, Any], Where]] = []
        for i, item in enumerate(specs):
            if isinstance(item, str):  # the short form: decoders: [uint, syscall]
                chain.append((item, {}, specs.at(i)))
                continue
            if not isinstance(item, Section):
                raise ConfigError(specs.at(i), f"{what}: a decoder is a name or a mapping "
                                  f"with 'name', not {_describe(item)}")
            dname = _get(item, "name", str, f"decoder of {what}")
            options = {k: v for k, v in item.items() if k != "name"}
            chain.append((dname, options, item.where))
        try:
            decoders = build_chain([(n, o) for n, o, _ in chain])
        except DecoderError as exc:
            where = chain[exc.index][2] if exc.index < len(chain) else specs.where
            raise ConfigError(where, f"{what}: {exc}") from None
    return Label(name, part, decoders, sec.where)


def _labels(sec: Section, metric: str) -> list[Label]:
    labels = [_label(s, metric) for s in _list_of_sections(sec, "labels", metric)]
    seen: set[str] = set()
    for label in labels:
        if label.name in seen:
            raise ConfigError(label.where, f"{metric}: label {label.name!r} is given twice")
        seen.add(label.name)
    return labels


def _metric_name(sec: Section, kind: str, names: set[str]) -> str:
    name: str = _get(sec, "name", str, f"a {kind}")
    if not _METRIC_NAME.match(name):
        raise ConfigError(sec.at("name"), f"{kind} {name!r}: not a valid Prometheus "
                          "metric name")
    if name in names:
        raise ConfigError(sec.at("name"), f"{kind} {name!r}: a metric of that name is "
                          "already defined in this file")
    names.add(name)
    return name


def _pages(v: int) -> str | None:
    return None if v > 0 and v & (v - 1) == 0 else "must be a power of two"


def _counter(sec: Section, names: set[str]) -> Counter:
    _check_keys(sec, ("name", "help", "map", "labels", "events", "event_type",
                      "lost_counter", "buffer_pages"), "counter")
    name = _metric_name(sec, "counter", names)
    what = f"counter {name!r}"
    if not name.endswith("_total"):
        raise ConfigError(sec.at("name"), f"{what}: counter names end in '_total'")
    if ("map" in sec) == ("events" in sec):
        raise ConfigError(sec.where, f"{what}: give 'map' (a map of counts) or 'events' "
                          "(a ring or perf buffer whose records it counts)")
    if "events" not in sec:
        for key in ("event_type", "lost_counter", "buffer_pages"):
            if key in sec:
                raise ConfigError(sec.at(key), f"{what}: {key!r} is for 'events' counters")
    events = "events" in sec
    return Counter(name, _get(sec, "help", str, what, default=name),
                   _get(sec, "events" if events else "map", str, what),
                   _labels(sec, what), sec.where, events=events,
                   event_type=_get(sec, "event_type", str, what, default=None),
                   lost_counter=_get(sec, "lost_counter", str, what, default=None),
                   buffer_pages=_get(sec, "buffer_pages", int, what, default=64,
                                     check=_pages))


def _histogram(sec: Section, names: set[str]) -> Histogram:
    _check_keys(sec, ("name", "help", "map", "labels", "bucket_type", "bucket_min",
                      "bucket_max", "bucket_multiplier", "bucket_keys", "bucket_key"),
                "histogram")
    name = _metric_name(sec, "histogram", names)
    what = f"histogram {name!r}"
    btype = _get(sec, "bucket_type", str, what)
    if btype not in BUCKET_TYPES:
        raise ConfigError(sec.at("bucket_type"), f"{what}: bucket_type {btype!r} is not "
                          f"one of {', '.join(BUCKET_TYPES)}")
    multiplier = float(_get(sec, "bucket_multiplier", (int, float), what, default=1.0))
    if not math.isfinite(multiplier) or multiplier <= 0:
        raise ConfigError(sec.at("bucket_multiplier"), f"{what}: bucket_multiplier must "
                          "be a positive number")
    keys: list[int] = []
    lo = hi = 0
    if btype == "fixed":
        for k in ("bucket_min", "bucket_max"):
            if k in sec:
                raise ConfigError(sec.at(k), f"{what}: fixed buckets take bucket_keys, "
                                  f"not {k}")
        items = _get(sec, "bucket_keys", Items, what)
        for i, k in enumerate(items):
            if not isinstance(k, int) or isinstance(k, bool) or k < 0:
                raise ConfigError(items.at(i), f"{what}: bucket_keys are slot numbers "
                                  f"(integers >= 0), not {_describe(k)}")
        keys = list(items)
        if not keys:
            raise ConfigError(sec.at("bucket_keys"), f"{what}: bucket_keys is empty")
        if len(set(keys)) != len(keys):
            raise ConfigError(sec.at("bucket_keys"), f"{what}: bucket_keys repeat a slot")
    else:
        if "bucket_keys" in sec:
            raise ConfigError(sec.at("bucket_keys"), f"{what}: bucket_keys are for fixed "
                              "buckets")
        lo = _get(sec, "bucket_min", int, what, default=0, check=_nonneg)
        hi = _get(sec, "bucket_max", int, what, check=_nonneg)
        if hi < lo:
            raise ConfigError(sec.at("bucket_max"), f"{what}: bucket_max ({hi}) is below "
                              f"bucket_min ({lo})")
        if hi - lo >= 4096:
            raise ConfigError(sec.at("bucket_max"), f"{what}: more than 4096 buckets")
        if btype == "exp2" and hi > 1023:
            raise ConfigError(sec.at("bucket_max"), f"{what}: exp2 slots go up to 1023")
    bucket_key = None
    if "bucket_key" in sec:
        bk = _get(sec, "bucket_key", Section, what)
        _check_keys(bk, ("field", "size", "offset"), f"bucket_key of {what}")
        bucket_key = _key_part(bk, f"bucket_key of {what}")
    return Histogram(name, _get(sec, "help", str, what, default=name),
                     _get(sec, "map", str, what), _labels(sec, what), bucket_key, btype,
                     lo, hi, multiplier, keys, sec.where)


def parse_config(text: str, path: str, name: str | None = None) -> Config:
    """Parse the text of a config file (``path`` is used in messages and ``name``
    defaults to its base name without ``.yaml``)."""
    if name is None:
        base = os.path.basename(path)
        name = base.rsplit(".", 1)[0] if base.endswith((".yaml", ".yml")) else base
    root = _load_yaml(text, path)
    if not isinstance(root, Section):
        raise ConfigError(Where(path, getattr(getattr(root, "where", None), "line", 0)),
                          "a config is a mapping with a 'metrics' section")
    _check_keys(root, ("metrics",), "config")
    metrics = _get(root, "metrics", Section, "config")
    _check_keys(metrics, ("counters", "histograms"), "metrics")
    names: set[str] = set()
    config = Config(name, path)
    config.counters = [_counter(s, names) for s in _list_of_sections(metrics, "counters",
                                                                     "metrics")]
    config.histograms = [_histogram(s, names)
                         for s in _list_of_sections(metrics, "histograms", "metrics")]
    if not config.metrics:
        raise ConfigError(metrics.where, "metrics: no counters or histograms")
    return config


def check_name(name: str) -> None:
    """Refuse config names that are not plain file names (no paths, no dot files)."""
    if not _CONFIG_NAME.match(name):
        raise ConfigError(Where(name), f"config name {name!r} is not a plain name "
                          "(letters, digits, '_', '-', '.')")


def load_config(directory: str | os.PathLike[str], name: str) -> Config:
    """Read and parse ``<directory>/<name>.yaml`` (opened without following symlinks,
    and only if no other user can write it: it tells root what to load)."""
    from .files import read_trusted
    check_name(name)
    path = os.path.join(os.fspath(directory), f"{name}.yaml")
    data = read_trusted(directory, f"{name}.yaml", limit=MAX_CONFIG_BYTES)
    return parse_config(data.decode("utf-8", errors="replace"), path, name)
