"""The exporter: load each config's BPF object, attach it, serve its maps as metrics.

    from libbpfpy.exporter import Exporter

    with Exporter("/etc/libbpfpy/exporter", ["syscalls", "latency"]) as exporter:
        exporter.serve("127.0.0.1", 9435)      # http://127.0.0.1:9435/metrics
        exporter.wait()                          # until stop() (or a signal, see run())

An :class:`Exporter` is also a Prometheus collector: register it in your own
``CollectorRegistry`` to serve its metrics from an existing endpoint.

Configs are independent: one that cannot be read, compiled, loaded or attached is
logged, reported by the built-in metrics, and the others are served.  While it
serves, the exporter keeps BPF run-time statistics enabled (``BPF_ENABLE_STATS``,
Linux >= 5.8): the kernel then times every BPF program on the machine (tens of ns
per run) until the exporter closes; ``stats=False`` turns this off.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BPFError, CompileError, VerifierError
from . import DEFAULT_PORT, EXAMPLES
from .config import Config, ConfigError, Where, check_name, load_config
from .files import check_trusted_dir, exists, read_trusted
from .metrics import Metric, bind

if TYPE_CHECKING:
    from ..link import Link
    from ..object import Object

__all__ = ["Exporter", "ConfigState"]

log = logging.getLogger("libbpfpy.exporter")


@dataclass
class ConfigState:
    """One config and what became of it: ``enabled`` once loaded and attached,
    else ``stage`` (config, object, load, attach) and ``error`` say what failed."""

    name: str
    config: Config | None = None
    obj: Object | None = None
    links: list[Link] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    enabled: bool = False
    stage: str | None = None
    error: str | None = None

    def close(self) -> None:
        for metric in self.metrics:
            metric.close()
        for link in self.links:
            link.close()
        self.links = []
        if self.obj is not None:
            self.obj.close()  # also destroys any link still open
            self.obj = None
        self.enabled = False


class Exporter:
    """Serves the maps of BPF programs as Prometheus metrics, one config per program.

    ``config_dir`` holds ``<name>.yaml`` and ``<name>.bpf.o`` (or ``<name>.bpf.c``,
    compiled through libbpfpy's cache on first use) for each name in ``names``.
    Metric names get ``namespace + "_"`` in front; the built-in metrics are
    ``<namespace>_exporter_*``.  Call :meth:`start` (or use ``with``) to load.
    """

    def __init__(self, config_dir: str | os.PathLike[str] = EXAMPLES,
                 names: Iterable[str] = (), *, namespace: str = "libbpfpy",
                 stats: bool = True) -> None:
        self.config_dir = os.fspath(config_dir)
        self.names = list(names)
        self.namespace = namespace
        self.configs: dict[str, ConfigState] = {}
        self._want_stats = stats
        self._stats: Any = None
        self.stats_error: str | None = None
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self.last_collect_seconds = 0.0
        for name in self.names:
            check_name(name)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"a config is named twice in {self.names}")

    # -- loading -------------------------------------------------------------------------
    def start(self) -> Exporter:
        """Load and attach every config (each failure is kept and logged, not raised),
        and enable BPF run-time statistics.  Returns self."""
        with self._lock:
            if self._want_stats and self._stats is None:
                self._enable_stats()
            for name in self.names:
                if name not in self.configs:
                    self.configs[name] = self._start_one(name)
        return self

    def _enable_stats(self) -> None:
        from .. import inventory
        try:
            self._stats = inventory.enable_stats()
        except (BPFError, OSError) as exc:
            self.stats_error = str(exc)
            log.warning("BPF run-time statistics not enabled (program run time and "
                        "count stay 0): %s", exc)
        else:
            log.info("BPF run-time statistics enabled while serving (BPF_ENABLE_STATS): "
                     "every BPF program on this machine is timed until the exporter stops")

    def check(self) -> dict[str, str | None]:
        """Read every config, open (compiling if needed) its BPF object and bind its
        metrics, without loading anything into the kernel: config name -> the error,
        or None when it is fine."""
        out: dict[str, str | None] = {}
        for name in self.names:
            try:
                config = load_config(self.config_dir, name)
                with self._open_object(name) as obj:
                    bind(config, obj, namespace=self.namespace)
            except (BPFError, OSError, ValueError) as exc:
                out[name] = _one_line(exc)
            else:
                out[name] = None
        return out

    def _start_one(self, name: str) -> ConfigState:
        state = ConfigState(name)
        stage = "config"
        try:
            state.config = load_config(self.config_dir, name)
            stage = "object"
            state.obj = self._open_object(name)
            stage = "config"
            state.metrics = bind(state.config, state.obj, namespace=self.namespace)
            stage = "load"
            state.obj.load()
            stage = "attach"
            state.links = state.obj.attach()
            for metric in state.metrics:
                metric.open()
        except (BPFError, OSError, ValueError) as exc:
            state.close()
            state.stage, state.error = stage, _one_line(exc)
            log.error("config %r not enabled (%s failed): %s", name, stage, state.error)
            return state
        state.enabled = True
        log.info("config %r enabled: %d programs attached, %d metrics", name,
                 len(state.links), len(state.metrics))
        return state

    def _open_object(self, name: str) -> Object:
        from ..object import Object
        obj_file, src_file = f"{name}.bpf.o", f"{name}.bpf.c"
        if exists(self.config_dir, obj_file):
            return Object.open(read_trusted(self.config_dir, obj_file), name=name)
        if exists(self.config_dir, src_file):
            from .._compile import compile
            check_trusted_dir(self.config_dir)
            read_trusted(self.config_dir, src_file)  # refuses symlinks and foreign files
            try:
                includes = [self.config_dir]
                if os.path.realpath(self.config_dir) != os.path.realpath(EXAMPLES):
                    includes.append(EXAMPLES)  # exporter.bpf.h
                path = compile(os.path.join(self.config_dir, src_file),
                               include_dirs=includes)
            except CompileError as exc:
                raise CompileError(f"{src_file}: {exc.message}",
                                   diagnostics=exc.diagnostics,
                                   returncode=exc.returncode) from None
            return Object.open(path, name=name)
        raise ConfigError(Where(os.path.join(self.config_dir, f"{name}.yaml")),
                          f"no BPF object for config {name!r}: neither {obj_file} nor "
                          f"{src_file} in {self.config_dir}")

    # -- collecting ------------------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        """Every metric family, read now (the Prometheus collector protocol)."""
        start = time.perf_counter()
        with self._lock:
            families: list[Any] = []
            for state in self.configs.values():
                if state.enabled:
                    for metric in state.metrics:
                        try:
                            families.extend(metric.collect())
                        except Exception:  # one metric's bug must not fail the scrape
                            metric.read_errors += 1
                            log.exception("%s: collecting %s failed", state.name,
                                          metric.full_name)
            from .builtin import builtin_families
            families.extend(builtin_families(self, time.perf_counter() - start))
        self.last_collect_seconds = time.perf_counter() - start
        yield from families

    # -- serving ------------------------------------------------------------------------------
    def serve(self, address: str = "127.0.0.1", port: int = DEFAULT_PORT) -> tuple[str, int]:
        """Serve ``/metrics`` over HTTP on ``address:port`` from a background thread
        (port 0 picks a free one); returns the address and port bound.  Loads the
        configs first if :meth:`start` was not called."""
        from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
        with self._lock:
            if self._server is not None:
                raise RuntimeError("already serving")
            if not self.configs:
                self.start()
            registry = CollectorRegistry()
            registry.register(self)
            ProcessCollector(namespace=f"{self.namespace}_exporter", registry=registry)
            self._server, self._server_thread = start_http_server(port, address, registry)
            host, bound = self._server.server_address[:2]
            log.info("serving metrics on http://%s:%d/metrics", _url_host(host), bound)
            return str(host), int(bound)

    def stop(self) -> None:
        """Make :meth:`wait` return (safe from a signal handler)."""
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` is called; False if ``timeout`` passed first."""
        return self._stopped.wait(timeout)

    def close(self) -> None:
        """Stop serving, detach and unload every program, release every map and the
        statistics; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(5)
            self._server_thread = None
        with self._lock:
            for state in self.configs.values():
                state.close()
            if self._stats is not None:
                self._stats.close()
                self._stats = None
        self._stopped.set()

    def __enter__(self) -> Exporter:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats_enabled(self) -> bool:
        """Whether this exporter holds BPF run-time statistics on."""
        return self._stats is not None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, VerifierError):
        lines = [ln.strip() for ln in exc.log.splitlines() if ln.strip() and
                 not ln.startswith(("processed ", "verification time", "stack depth"))]
        log.debug("verifier log of %s:\n%s", exc.program, exc.log)
        return f"{exc.message}: {' / '.join(lines[-2:])}" if lines else exc.message
    if isinstance(exc, CompileError):
        first = next((ln for ln in exc.diagnostics.splitlines() if "error" in ln), "")
        return f"{exc.message}: {first.strip()}" if first else exc.message
    text = str(exc).strip().splitlines()
    return " / ".join(ln.strip() for ln in text if ln.strip()) or type(exc).__name__


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
