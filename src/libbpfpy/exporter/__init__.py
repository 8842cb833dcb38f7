"""``libbpfpy exporter``: BPF maps served as Prometheus metrics.

A small exporter for every node of a fleet, in the manner of Cloudflare's
ebpf_exporter: each *config* pairs a BPF program (``<name>.bpf.o``, or
``<name>.bpf.c`` compiled on first use) with a YAML file saying which of its maps
are counters or histograms and how the bytes of their keys become labels.  The
exporter loads and attaches each program and, on every scrape, reads the maps in
bulk and serves them with prometheus_client::

    libbpfpy exporter --config /etc/libbpfpy/exporter --names syscalls,latency \\
        --listen 127.0.0.1:9435

or from Python::

    from libbpfpy.exporter import Exporter
    with Exporter(config_dir, ["syscalls"]) as exporter:
        exporter.serve("127.0.0.1", 9435)
        exporter.wait()

Modules: :mod:`.config` (the YAML format), :mod:`.decoders` (label decoders),
:mod:`.names` (kernel names: system calls, symbols, cgroups, interfaces),
:mod:`.metrics` (configs bound to maps), :mod:`.reader` (bulk map reads),
:mod:`.builtin` (the exporter's own metrics), :mod:`.service` (the exporter).
Example configs, their BPF programs, a systemd unit and a Grafana dashboard ship
in ``examples/`` (:data:`EXAMPLES`).  Needs the ``exporter`` extra
(``pip install libbpfpy[exporter]``: prometheus_client and PyYAML).
"""
from __future__ import annotations

from .config import Config, ConfigError, load_config, parse_config
from .decoders import DECODERS, Decoder
from .service import DEFAULT_PORT, EXAMPLES, ConfigState, Exporter

__all__ = ["Exporter", "ConfigState", "Config", "ConfigError", "load_config",
           "parse_config", "Decoder", "DECODERS", "EXAMPLES", "DEFAULT_PORT", "main"]


def main(argv: list[str] | None = None) -> int:
    """``libbpfpy exporter``'s entry point (``python -m libbpfpy.exporter``)."""
    from ..cli.exporter import run_main
    return run_main(argv)
