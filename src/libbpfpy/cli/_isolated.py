"""Reading untrusted files in a child process.

libbpfpy checks object files and BTF before libbpf reads them, but no check can
prove libbpf correct: the commands that read a file given on the command line
(``inspect``, ``btf dump FILE``, ``skel``) do the reading in a forked child.  If
libbpf crashes there, the command reports it in one line and exits 1 instead of
dying with a core dump; the result (plain data) comes back through a pipe.
"""
from __future__ import annotations

import errno
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import BPFError

__all__ = ["isolated"]

R = TypeVar("R")


def isolated(what: str, fn: Callable[..., R], *args: Any) -> R:
    """``fn(*args)`` run in a forked child; its result or its exception, re-raised
    here.  A child killed by a signal becomes a :class:`BPFError` naming ``what``."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        status = 0
        try:
            try:
                payload = pickle.dumps(("ok", fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - everything goes to the parent
                payload = _pickled_error(exc)
            with os.fdopen(w, "wb") as out:
                out.write(payload)
        except BaseException:  # noqa: BLE001
            status = 1
        os._exit(status)
    os.close(w)
    with os.fdopen(r, "rb") as inp:
        try:
            payload = inp.read()
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        raise BPFError(errno.EINVAL, f"reading {what} crashed libbpf ({sig}): the file is "
                       "malformed in a way libbpfpy does not check yet", target=what)
    if not payload:
        raise BPFError(errno.EIO, f"reading {what} failed (exit status "
                       f"{os.WEXITSTATUS(status)})", target=what)
    kind, value = pickle.loads(payload)
    if kind == "ok":
        return value  # type: ignore[no-any-return]
    raise value


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps(("error", exc))
    except Exception:  # an exception that cannot cross processes: keep its words
        return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
