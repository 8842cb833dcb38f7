"""Signals are never lost (issue 12, item 9): an exception raised while libbpf runs
one of libbpfpy's callbacks -- Ctrl-C's KeyboardInterrupt lands there often, since
libbpf logs through a Python callback during open and load -- is kept and raised
when the C call returns, instead of being dropped by ctypes."""
from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, need_privileges
from libbpfpy import Object

SIGINT_SCRIPT = ROOT / "tests" / "fuzz" / "sigint.py"


def _sigint_run(*extra: str, count: int = 60) -> None:
    proc = subprocess.run([sys.executable, str(SIGINT_SCRIPT), "--count", str(count),
                           "--wait", "5", *extra], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert f"{count} raised KeyboardInterrupt, 0 lost" in proc.stdout


@pytest.mark.slow
def test_no_sigint_lost_during_open_loops():
    _sigint_run()


@pytest.mark.slow
@pytest.mark.root
def test_no_sigint_lost_during_open_and_load_loops():
    _sigint_run("--load")


class Boom(Exception):
    pass


def test_an_exception_in_a_log_handler_surfaces_after_the_call(bpf_object_path):
    """An exception raised while libbpf is calling back (here by a logging handler;
    for Ctrl-C, by the SIGINT handler) is raised once the libbpf call returns; the
    object it made is closed, not leaked."""
    class Raising(logging.Handler):
        def emit(self, record):
            raise Boom(record.getMessage())

    log = logging.getLogger("libbpfpy.libbpf")
    handler, level = Raising(logging.DEBUG), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    before = set(os.listdir("/proc/self/fd"))
    try:
        with pytest.raises(Boom):
            Object.open(bpf_object_path("hello"))
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert set(os.listdir("/proc/self/fd")) <= before
    # nothing is left pending: the next call is unaffected
    with Object.open(bpf_object_path("hello")) as obj:
        assert obj.name == "hello"


def test_an_exception_escaping_a_callback_is_kept():
    """The SIGINT handler may run on a callback's very first instruction, before any
    try block in it: what escapes a registered callback is kept anyway (through
    sys.unraisablehook) and raised after the C call -- here C's qsort() calling a
    comparator that raises at once."""
    import ctypes

    from libbpfpy import _deferred

    cmp_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def compare(a, b):
        raise Boom("from the first line")

    cb = cmp_t(_deferred.register(compare))
    qsort = ctypes.CDLL(None).qsort
    qsort.restype = None
    arr = (ctypes.c_int * 4)(4, 3, 2, 1)
    qsort(arr, 4, ctypes.sizeof(ctypes.c_int), cb)       # C returns normally...
    with pytest.raises(Boom, match="first line"):
        _deferred.raise_pending()                           # ...and the exception is here
    _deferred.raise_pending()                               # only once


@pytest.mark.slow
@pytest.mark.root
def test_mmapsnoop_obeys_ctrl_c_at_any_moment_of_its_start():
    need_privileges()
    rng = random.Random(7)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "libbpfpy.tools.mmapsnoop"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=env)
        time.sleep(rng.uniform(0.2, 1.5))    # from its imports to its first events
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("mmapsnoop ignored Ctrl-C and kept running") from None
        # 0: stopped tracing; 130: stopped while starting; -SIGINT: Ctrl-C during the
        # interpreter's own start, before any code of ours ran
        assert proc.returncode in (0, 130, -signal.SIGINT), err
