"""What the hypothesis state machines that run in child processes share
(test_misuse's random public calls, test_thread_machine's races): the end-of-run
check that nothing is left open, and how a machine is run and reported."""
from __future__ import annotations

import os
import sys
import unittest
from typing import Any


def describe_fds(fds: list[str]) -> list[str]:
    """``"N -> target"`` for each of this process's fds named (as in /proc/self/fd)."""
    what = []
    for fd in fds:
        try:
            what.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass  # the listing's own fd
    return what


def assert_nothing_left(start_fds: int) -> None:
    """No fd more than at the start, and nothing the garbage collector had to close."""
    from libbpfpy import _lifetime
    left = sorted(os.listdir("/proc/self/fd"), key=int)
    if len(left) != start_fds:
        raise AssertionError(f"fds: {start_fds} before, {len(left)} after: "
                             f"{describe_fds(left)}")
    assert not _lifetime.leaks, dict(_lifetime.leaks)


def run(machine: Any, *, examples_env: str, examples: int, steps: int) -> None:
    """Run ``machine`` (a RuleBasedStateMachine) and exit 0 when every example
    passed.  ``$<examples_env>`` overrides the example count; LIBBPFPY_FUZZ_RANDOM=1
    draws new examples instead of the derandomized ones."""
    from hypothesis import HealthCheck, settings
    machine.TestCase.settings = settings(
        max_examples=int(os.environ.get(examples_env, str(examples))),
        stateful_step_count=steps, deadline=None,
        derandomize=os.environ.get("LIBBPFPY_FUZZ_RANDOM") != "1",
        suppress_health_check=list(HealthCheck))
    result = unittest.TextTestRunner(verbosity=1).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(machine.TestCase))
    sys.exit(0 if result.wasSuccessful() else 1)
