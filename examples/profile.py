#!/usr/bin/env python3
"""profile: a sampling CPU profiler with symbolised kernel and user stacks.

Shows: SEC("perf_event") programs attached to one sampling perf event per CPU
(libbpfpy.perf_event.open_sampling_event + Program.attach_perf_event), stack ids
from bpf_get_stackid() resolved through a BPF_MAP_TYPE_STACK_TRACE map, and
addresses turned into names (libbpfpy.symbolize): kernel ones with
/proc/kallsyms, user ones with the process's memory map and the ELF symbols of
its binaries.  At the end it prints the most frequent stacks, innermost first.

Kernel: perf_event programs and stack-trace maps (Linux >= 4.9), the software
CPU clock (any kernel: no hardware PMU needed), ring buffers (Linux >= 5.8).
Run as root.
"""
from __future__ import annotations

import collections
import os

import common

from libbpfpy import Object, RingBuffer
from libbpfpy.perf_event import online_cpus, open_sampling_event
from libbpfpy.symbolize import KernelSymbols, ProcessSymbols


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("-p", "--pid", type=int, default=0, help="only this process")
    p.add_argument("-F", "--frequency", type=int, default=99, help="samples per second per CPU")
    p.add_argument("-n", "--top", type=int, default=5, help="how many stacks to print")
    args = p.parse_args()
    common.require_root()
    counts: collections.Counter[tuple[int, str, int, int]] = collections.Counter()
    processes: dict[int, ProcessSymbols | None] = {}

    def on_sample(s) -> None:
        # Read a process's memory map on its first sample, while it still runs.
        if s.pid not in processes:
            try:
                processes[s.pid] = ProcessSymbols(s.pid)
            except OSError:
                processes[s.pid] = None
        counts[(s.pid, s.as_str("comm"), s.kstack, s.ustack)] += 1

    with Object.open(common.bpf_object("profile")) as obj:
        obj.globals["targ_pid"] = args.pid
        obj.load()
        prog = obj.programs["on_tick"]
        for cpu in online_cpus():
            fd = open_sampling_event(cpu=cpu, freq=args.frequency)
            try:
                prog.attach_perf_event(fd)       # the link keeps its own fd
            finally:
                os.close(fd)
        with RingBuffer(obj.maps["samples"], on_sample, event_type="stack_sample") as rb:
            what = f"pid {args.pid}" if args.pid else "every CPU"
            common.ready(f"sampling {what} at {args.frequency} Hz")
            common.run(rb.poll, args.duration)
            rb.poll(0)
        stacks = obj.maps["stacks"]
        kernel = KernelSymbols()

        def frames(stack_id: int, resolve) -> list[str]:
            if stack_id < 0:
                return []
            ips = stacks.lookup(stack_id.to_bytes(4, "little"))
            if ips is None:
                return []
            out = []
            for i in range(0, len(ips), 8):
                ip = int.from_bytes(ips[i:i + 8], "little")
                if not ip:
                    break
                sym = resolve(ip) if resolve else None
                out.append(str(sym) if sym else f"{ip:#x}")
            return out

        total = sum(counts.values())
        print(f"{total} samples")
        for (pid, comm, kstack, ustack), n in counts.most_common(args.top):
            user = processes.get(pid)
            print(f"\n{n} samples ({100 * n / total:.1f}%) in {comm} (pid {pid}):")
            for frame in frames(kstack, kernel.resolve):
                print(f"    [k] {frame}")
            for frame in frames(ustack, user.resolve if user else None):
                print(f"    [u] {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(main))
