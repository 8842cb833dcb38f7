"""The exporter's own metrics, named ``<namespace>_exporter_*``:

=====================================  =========  ==========================================
metric                                 type       labels / meaning
=====================================  =========  ==========================================
enabled_configs                        gauge      config: 1 loaded and attached, 0 failed
config_failed                          gauge      config, stage (config, object, load,
                                                  attach): 1 for a config that failed there
programs_attached                      gauge      config, program, id, tag: links attached
program_run_seconds_total              counter    config, program, id: time in the program
program_runs_total                     counter    config, program, id: times it ran
bpf_stats_enabled                      gauge      1 while run-time statistics are on
map_read_errors_total                  counter    config, map, metric: failed map reads
map_entries                            gauge      config, map, metric: entries at last read
map_read_seconds                       gauge      config, map, metric: read + decode time
events_lost_total                      counter    config, map, metric: ring/perf buffer
                                                  records lost before the exporter read
                                                  them (perf buffer losses, and the
                                                  config's ``lost_counter``)
collect_seconds                        gauge      time to read every map for this scrape
=====================================  =========  ==========================================

Program run time and count only move while BPF run-time statistics are enabled
(the exporter enables them while it serves, see :class:`~libbpfpy.exporter.Exporter`).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import BPFError

if TYPE_CHECKING:
    from .service import Exporter

__all__ = ["builtin_families"]


def builtin_families(exporter: Exporter, collect_seconds: float) -> Iterator[Any]:
    """The built-in metric families of ``exporter`` as of now."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    p = f"{exporter.namespace}_exporter_" if exporter.namespace else "exporter_"

    enabled = GaugeMetricFamily(p + "enabled_configs", "Whether each config is loaded "
                                "and attached (1) or failed (0)", labels=["config"])
    failed = GaugeMetricFamily(p + "config_failed", "Configs that failed, by the stage "
                               "that failed (config, object, load, attach)",
                               labels=["config", "stage"])
    attached = GaugeMetricFamily(p + "programs_attached", "Links attached per program",
                                 labels=["config", "program", "id", "tag"])
    run_time = CounterMetricFamily(p + "program_run_seconds", "Time spent running each "
                                   "program (needs BPF run-time statistics)",
                                   labels=["config", "program", "id"])
    run_count = CounterMetricFamily(p + "program_runs", "Times each program ran (needs "
                                    "BPF run-time statistics)",
                                    labels=["config", "program", "id"])
    errors = CounterMetricFamily(p + "map_read_errors", "Failed reads of a metric's map",
                                 labels=["config", "map", "metric"])
    entries = GaugeMetricFamily(p + "map_entries", "Entries read from a metric's map at "
                                "the last scrape", labels=["config", "map", "metric"])
    read_time = GaugeMetricFamily(p + "map_read_seconds", "Time to read and decode a "
                                  "metric's map at the last scrape",
                                  labels=["config", "map", "metric"])
    lost = CounterMetricFamily(p + "events_lost", "Ring or perf buffer records lost before "
                               "the exporter read them", labels=["config", "map", "metric"])
    for name, state in exporter.configs.items():
        enabled.add_metric([name], 1 if state.enabled else 0)
        if not state.enabled and state.stage:
            failed.add_metric([name, state.stage], 1)
        if state.enabled and state.obj is not None:
            for prog in state.obj.programs.values():
                if not prog.loaded:
                    continue
                try:
                    info = prog.info()
                except BPFError:
                    continue
                attached.add_metric([name, prog.name, str(info.id), info.tag],
                                    len(prog.links))
                run_time.add_metric([name, prog.name, str(info.id)], info.run_time_ns / 1e9)
                run_count.add_metric([name, prog.name, str(info.id)], info.run_count)
        for metric in state.metrics:
            labels = [name, metric.map_name, metric.full_name]
            errors.add_metric(labels, metric.read_errors)
            if state.enabled:
                entries.add_metric(labels, metric.entries)
                read_time.add_metric(labels, metric.read_seconds)
                dropped = metric.events_lost()
                if dropped is not None:
                    lost.add_metric(labels, dropped)
    stats = GaugeMetricFamily(p + "bpf_stats_enabled", "Whether BPF run-time statistics "
                              "are enabled by this exporter",
                              value=1 if exporter.stats_enabled else 0)
    collect = GaugeMetricFamily(p + "collect_seconds", "Time to read every map for this "
                                "scrape", value=collect_seconds)
    yield from (enabled, failed, attached, run_time, run_count, stats, errors, entries,
                read_time, lost, collect)
