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

import importlib
import os
from typing import TYPE_CHECKING, Any

__all__ = ["Exporter", "ConfigState", "Config", "ConfigError", "load_config",
           "parse_config", "Decoder", "DECODERS", "EXAMPLES", "DEFAULT_PORT", "main"]

#: The example configs (and their BPF programs, the systemd unit and the Grafana
#: dashboard) shipped in the package.
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")
#: The port ``libbpfpy exporter`` listens on by default.
DEFAULT_PORT = 9435

# Names are imported on first use, so that the command line can be built (and
# report a missing libbpf in one line) without loading libbpf.
_LAZY = {"Exporter": "service", "ConfigState": "service", "Config": "config",
         "ConfigError": "config", "load_config": "config", "parse_config": "config",
         "Decoder": "decoders", "DECODERS": "decoders"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'libbpfpy.exporter' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def main(argv: list[str] | None = None) -> int:
    """``libbpfpy exporter``'s entry point (``python -m libbpfpy.exporter``)."""
    from ..cli.exporter import run_main
    return run_main(argv)


if TYPE_CHECKING:
    from .config import Config, ConfigError, load_config, parse_config
    from .decoders import DECODERS, Decoder
    from .service import ConfigState, Exporter
