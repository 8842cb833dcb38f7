"""Child programs that tests start to make known system calls on cue."""
from __future__ import annotations

#: Prints "ready", reads a count N, calls getpgid() N times, prints "done", then
#: waits for one more line before exiting (so its pid stays valid while checked).
GETPGID_CHILD = """
import os, sys
sys.stdout.write("ready\\n"); sys.stdout.flush()
n = int(sys.stdin.readline())
for _ in range(n):
    os.getpgid(0)
sys.stdout.write("done\\n"); sys.stdout.flush()
sys.stdin.readline()
"""


#: A child that makes system calls on cue, so BPF programs filtering on its pid can
#: count exactly: it prints "ready", then for each line "OP N [ARG]" makes N calls
#: and answers "done RESULT" (RESULT: the last call's return value, or the errno
#: name it failed with), until stdin closes.  OPs: nanosleep (1 us), getppid, getsid,
#: open (ARG: a path, opened read-only and closed), mmap (anonymous, one page,
#: unmapped again).
CUE_CHILD = """
import errno, mmap, os, sys, time
def call(op, arg):
    if op == "nanosleep":
        time.sleep(1e-6)
        return 0
    if op == "getppid":
        return os.getppid()
    if op == "getsid":
        return os.getsid(os.getpid())  # not 0: the kernel checks only other pids
    if op == "open":
        os.close(os.open(arg, os.O_RDONLY))
        return 0
    if op == "mmap":
        mmap.mmap(-1, 4096).close()
        return 0
    raise SystemExit("unknown op " + op)
sys.stdout.write("ready\\n"); sys.stdout.flush()
for line in sys.stdin:
    op, n, *rest = line.split()
    result = None
    for _ in range(int(n)):
        try:
            result = call(op, rest[0] if rest else None)
        except OSError as exc:
            result = errno.errorcode.get(exc.errno, exc.errno)
    sys.stdout.write("done %s\\n" % (result,)); sys.stdout.flush()
"""


class CueChild:
    """A running :data:`CUE_CHILD`: ``pid``; ``do(op, n, arg)`` returns its answer."""

    def __init__(self) -> None:
        import subprocess
        import sys
        self.proc = subprocess.Popen([sys.executable, "-c", CUE_CHILD], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "ready\n"

    def do(self, op: str, n: int = 1, arg: str = "") -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{op} {n} {arg}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split(maxsplit=1)
        assert answer[:1] == ["done"], answer
        return answer[1].strip()

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()

    def __enter__(self) -> CueChild:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
