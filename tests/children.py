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
