#!/usr/bin/env python3
"""task_iter: list every task in the system from a BPF iterator.

Shows: SEC("iter/task") attached with Program.attach_iter() (or attach()), and
Link.read(), which runs the iterator to the end and returns what the program
printed -- a table of PID, TID, PPID and command, like `ps -eL` computed in the
kernel.  Pointers in the task are read directly (BTF-typed, no probe_read).

Kernel: BPF iterators (Linux >= 5.8) with BTF.  Run as root.
"""
from __future__ import annotations

import common

from libbpfpy import Object


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("-n", "--name", help="only tasks whose command contains NAME")
    args = p.parse_args()
    common.require_root()
    with Object.open(common.bpf_object("task_iter")) as obj:
        obj.load()
        with obj.programs["dump_task"].attach_iter() as link:
            text = link.read().decode(errors="replace")
    lines = text.splitlines()
    print(lines[0])
    for line in lines[1:]:
        if not args.name or args.name in line.split(None, 3)[-1]:
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
