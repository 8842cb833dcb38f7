#!/usr/bin/env python3
"""bootstrap: every process start (exec) and exit, with its lifetime.

Shows: a ring buffer read with events typed by the object's own BTF
(event_type="event": no struct written twice), a hash map shared by two
programs, and a `const volatile` global set before load as a kernel-side filter
(-d MS: report only exits of processes that lived at least MS milliseconds;
exec events are left out then).  Text from char[] fields via as_str().

Kernel: tracepoints sched:sched_process_exec/exit, ring buffers (Linux >= 5.8),
BTF.  Run as root.
"""
from __future__ import annotations

import time

import common

from libbpfpy import Object, RingBuffer


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("-d", "--min-duration", type=int, default=0, metavar="MS",
                   help="only exits of processes that lived at least MS milliseconds")
    args = p.parse_args()
    common.require_root()
    with Object.open(common.bpf_object("bootstrap")) as obj:
        obj.globals["min_duration_ns"] = args.min_duration * 1_000_000
        obj.load()
        obj.attach()

        def show(e) -> None:
            ts = time.strftime("%H:%M:%S")
            if e.exit_event:
                extra = f"[{e.exit_code}]"
                if e.duration_ns:
                    extra += f" ({e.duration_ns // 1_000_000}ms)"
                print(f"{ts:8} EXIT  {e.as_str('comm'):16} {e.pid:<7} {e.ppid:<7} {extra}",
                      flush=True)
            else:
                print(f"{ts:8} EXEC  {e.as_str('comm'):16} {e.pid:<7} {e.ppid:<7} "
                      f"{e.as_str('filename')}", flush=True)

        with RingBuffer(obj.maps["rb"], show, event_type="event") as rb:
            print(f"{'TIME':8} EVENT {'COMM':16} {'PID':7} {'PPID':7} FILENAME/EXIT CODE",
                  flush=True)
            common.ready("tracing exec() and exit()")
            common.run(rb.poll, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
