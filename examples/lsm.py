#!/usr/bin/env python3
"""lsm: protect one process from signals with a BPF LSM program.

Shows: SEC("lsm/task_kill") returning -EPERM to deny an operation (here, any
signal but 0 sent to the process given with -p), a `const volatile` target set
before load, and each refusal reported through a ring buffer.  While it runs,
`kill PID` fails with "Operation not permitted", for root too.

Kernel: CONFIG_BPF_LSM with "bpf" in the active LSMs (lsm= boot parameter or
CONFIG_LSM), Linux >= 5.7, BTF; ring buffers (Linux >= 5.8).  `libbpfpy probe`
says whether LSM programs load here.  Run as root.
"""
from __future__ import annotations

import signal

import common

from libbpfpy import Object, RingBuffer


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("-p", "--pid", type=int, required=True, help="the process to protect")
    args = p.parse_args()
    common.require_root()
    with Object.open(common.bpf_object("lsm")) as obj:
        obj.globals["protected_pid"] = args.pid
        obj.load()
        obj.attach()

        def show(d) -> None:
            try:
                name = signal.Signals(d.sig).name
            except ValueError:
                name = str(d.sig)
            print(f"denied {name} to pid {args.pid} from pid {d.sender} "
                  f"({d.as_str('comm')})", flush=True)

        with RingBuffer(obj.maps["denials"], show, event_type="kill_denial") as rb:
            common.ready(f"protecting pid {args.pid} from signals")
            common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
