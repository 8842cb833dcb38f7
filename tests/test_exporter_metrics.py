"""Exporter metrics read from real maps: what a scrape shows for what the maps hold."""
from __future__ import annotations

import os
import sys
import textwrap

import pytest

pytest.importorskip("prometheus_client", reason="the exporter extra is installed by make setup")

from conftest import wait_for  # noqa: E402
from libbpfpy import Object, possible_cpus  # noqa: E402
from libbpfpy.exporter import parse_config  # noqa: E402
from libbpfpy.exporter.metrics import bind  # noqa: E402

pytestmark = pytest.mark.root


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("exporter_maps")) as o:
        o.globals["targ_tgid"] = os.getpid()
        yield o


def metrics_of(obj, text: str):
    config = parse_config(textwrap.dedent(text), "test.yaml", "test")
    bound = bind(config, obj, namespace="t")
    if not obj.loaded:
        obj.load()
    for m in bound:
        m.open()
    return bound


def samples(metric) -> dict[tuple, float]:
    """(sample name, sorted labels) -> value, from one collect()."""
    out = {}
    for family in metric.collect():
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def comm_key(comm: bytes, nr: int) -> bytes:
    return comm.ljust(16, b"\0") + nr.to_bytes(4, sys.byteorder) + bytes(4)


def test_counter_sums_keys_with_equal_labels(obj):
    (metric,) = metrics_of(obj, """\
        metrics:
          counters:
            - name: calls_total
              help: calls
              map: by_comm
              labels:
                - name: comm
                  field: comm
                  decoders:
                    - name: string
                    - name: regexp
                      regexps: ["^keep"]
        """)
    try:
        m = obj.maps["by_comm"]
        m[comm_key(b"keep-a", 1)] = 5
        m[comm_key(b"keep-a", 2)] = 7   # same comm, other nr: summed
        m[comm_key(b"keep-b", 1)] = 1
        m[comm_key(b"drop-me", 1)] = 100
        got = samples(metric)
        assert got == {("t_calls_total", (("comm", "keep-a"),)): 12,
                       ("t_calls_total", (("comm", "keep-b"),)): 1}
        # values move, keys go: the next scrape follows
        m[comm_key(b"keep-b", 1)] = 9
        del m[comm_key(b"keep-a", 2)]
        got = samples(metric)
        assert got[("t_calls_total", (("comm", "keep-a"),))] == 5
        assert got[("t_calls_total", (("comm", "keep-b"),))] == 9
        assert metric.entries == 3
    finally:
        metric.close()


def test_counter_from_a_program(obj):
    """getpgid() calls of a child, counted by the fixture's tracepoint program."""
    (metric,) = metrics_of(obj, """\
        metrics:
          counters:
            - name: getpgid_total
              map: by_comm
              labels:
                - {name: comm, field: comm}
                - {name: syscall, field: nr, decoders: [uint]}
        """)
    links = obj.attach()
    try:
        for _ in range(250):
            os.getpgid(0)
        got = samples(metric)
        comm = open("/proc/self/comm").read().strip()
        assert got[("t_getpgid_total", (("comm", comm), ("syscall", "121")))] >= 250
    finally:
        for link in links:
            link.close()
        metric.close()


def test_percpu_values_are_summed_and_array_zeros_skipped(obj):
    metrics = metrics_of(obj, """\
        metrics:
          counters:
            - {name: pcpu_total, map: pcpu, labels: [{name: id, size: 4}]}
            - {name: arr_total, map: arr, labels: [{name: index, size: 4}]}
        """)
    try:
        ncpu = possible_cpus()
        obj.maps["pcpu"][3] = list(range(1, ncpu + 1))
        obj.maps["arr"][5] = 42
        pcpu, arr = (samples(m) for m in metrics)
        assert pcpu == {("t_pcpu_total", (("id", "3"),)): ncpu * (ncpu + 1) // 2}
        assert arr == {("t_arr_total", (("index", "5"),)): 42}  # 15 zero elements: none
        assert metrics[1].entries == 16
    finally:
        for m in metrics:
            m.close()


def hist_key(ident: int, slot: int) -> bytes:
    return ident.to_bytes(4, sys.byteorder) + slot.to_bytes(4, sys.byteorder)


def histogram(obj, settings: str):
    (metric,) = metrics_of(obj, f"""\
        metrics:
          histograms:
            - name: h_seconds
              help: h
              map: hist
              bucket_key: {{field: slot}}
              labels: [{{name: id, field: id}}]
{textwrap.indent(textwrap.dedent(settings), " " * 14)}
        """)
    return metric


def buckets_of(got: dict, ident: str) -> list[tuple[str, float]]:
    rows = [(dict(labels)["le"], v) for (name, labels), v in got.items()
            if name == "t_h_seconds_bucket" and dict(labels)["id"] == ident]
    return sorted(rows, key=lambda r: float(r[0]))


def test_exp2_histogram(obj):
    metric = histogram(obj, """\
        bucket_type: exp2
        bucket_min: 2
        bucket_max: 5
        bucket_multiplier: 0.001
        """)
    try:
        m = obj.maps["hist"]
        m[hist_key(1, 0)] = 3      # below bucket_min: counted in the first bucket
        m[hist_key(1, 3)] = 4
        m[hist_key(1, 5)] = 1
        m[hist_key(1, 9)] = 2      # above bucket_max: only in +Inf
        m[hist_key(1, 0xFFFFFFFF)] = 1234   # the sum slot, in the program's unit
        m[hist_key(2, 4)] = 6
        got = samples(metric)
        assert buckets_of(got, "1") == [("0.004", 3), ("0.008", 7), ("0.016", 7),
                                        ("0.032", 8), ("+Inf", 10)]
        assert got[("t_h_seconds_count", (("id", "1"),))] == 10
        assert got[("t_h_seconds_sum", (("id", "1"),))] == pytest.approx(1.234)
        assert buckets_of(got, "2") == [("0.004", 0), ("0.008", 0), ("0.016", 6),
                                        ("0.032", 6), ("+Inf", 6)]
        assert got[("t_h_seconds_sum", (("id", "2"),))] == 0
    finally:
        metric.close()


def test_linear_and_fixed_histograms(obj, bpf_object_path):
    metric = histogram(obj, """\
        bucket_type: linear
        bucket_min: 1
        bucket_max: 3
        bucket_multiplier: 10
        """)
    try:
        m = obj.maps["hist"]
        for slot, count in ((1, 2), (2, 3), (3, 4), (4, 5)):
            m[hist_key(7, slot)] = count
        got = samples(metric)
        assert buckets_of(got, "7") == [("10.0", 2), ("20.0", 5), ("30.0", 9), ("+Inf", 14)]
    finally:
        metric.close()
    with Object.open(bpf_object_path("exporter_maps")) as other:
        metric = histogram(other, """\
            bucket_type: fixed
            bucket_keys: [100, 10, 1000]
            """)
        try:
            m = other.maps["hist"]
            for slot, count in ((5, 1), (10, 2), (50, 4), (1000, 8), (5000, 16)):
                m[hist_key(1, slot)] = count
            got = samples(metric)
            # slot 5 <= 10, slot 50 <= 100, 5000 above every key: +Inf only
            assert buckets_of(got, "1") == [("10.0", 3), ("100.0", 7), ("1000.0", 15),
                                            ("+Inf", 31)]
        finally:
            metric.close()


def test_read_error_is_counted(obj):
    (metric,) = metrics_of(obj, """\
        metrics:
          counters:
            - {name: calls_total, map: by_u64, labels: [{name: id, size: 8}]}
        """)
    obj.maps["by_u64"][1] = 1
    assert metric.read_errors == 0
    # the handle the metric reads through is gone: the read fails, is counted, and
    # the scrape goes on without the family
    metric._reader._handle.close()
    assert list(metric.collect()) == []
    assert metric.read_errors == 1
    metric.close()



EVENTS = """\
    metrics:
      counters:
        - name: ring_events_total
          events: ring
          event_type: event
          lost_counter: dropped
          labels:
            - {{name: comm, field: comm}}
            - {{name: kind, field: kind}}
        - name: perf_events_total
          events: perf_events
          event_type: event
          buffer_pages: {pages}
          labels: [{{name: comm, field: comm}}]
    """


@pytest.fixture
def events_obj(bpf_object_path):
    with Object.open(bpf_object_path("exporter_events")) as o:
        o.globals["targ_tgid"] = os.getpid()
        yield o


def bind_events(obj, pages: int):
    config = parse_config(textwrap.dedent(EVENTS.format(pages=pages)), "ev.yaml", "ev")
    return bind(config, obj, namespace="t")


def test_event_counters_count_every_record(events_obj):
    events_obj.maps["ring"].max_entries = 1 << 20  # room for every record
    ring, perf = bind_events(events_obj, 64)
    events_obj.load()
    links = events_obj.attach()
    ring.open()
    perf.open()
    try:
        comm = open("/proc/self/comm").read().strip()
        for _ in range(150):
            os.getpgid(0)
        assert wait_for(lambda: sum(ring.totals().values()) >= 150 and
                        sum(perf.totals().values()) >= 150, 10)
        assert ring.totals() == {(comm, "1"): 150}
        assert perf.totals() == {(comm,): 150}
        assert ring.events_lost() == 0 and perf.events_lost() == 0
        got = samples(ring)
        assert got[("t_ring_events_total", (("comm", comm), ("kind", "1")))] == 150
    finally:
        ring.close()
        perf.close()
        for link in links:
            link.close()


def test_event_losses_are_counted(events_obj):
    """Nothing consumes while 60 records are written into buffers with room for a few:
    the ring's failed reservations (the program's `dropped`) and the perf buffer's
    lost samples (reported by the kernel) make up the difference."""
    ring, perf = bind_events(events_obj, 1)
    events_obj.load()
    links = events_obj.attach()
    ring.open(start=False)
    perf.open(start=False)
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})  # one CPU's perf buffer gets every record
    try:
        for _ in range(60):
            os.getpgid(0)
        ring.reader.consume()
        perf.reader.consume()
        os.getpgid(0)  # the kernel reports a perf buffer's losses with its next record
        perf.reader.consume()
        ring.reader.consume()
        counted_ring = sum(ring.totals().values())
        counted_perf = sum(perf.totals().values())
        assert 0 < counted_ring < 10 and 0 < counted_perf < 10
        assert counted_ring + ring.events_lost() == 61
        assert counted_perf + perf.events_lost() == 61
    finally:
        os.sched_setaffinity(0, cpus)
        ring.close()
        perf.close()
        for link in links:
            link.close()
