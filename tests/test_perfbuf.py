"""PerfBuffer: samples written by a raw_tp program run through test_run on chosen CPUs."""
from __future__ import annotations

import asyncio
import ctypes
import struct
import threading
import time

import pytest

from libbpfpy import ClosedError, Object, PerfBuffer, PerfEvent, possible_cpus

pytestmark = pytest.mark.root

BPF_F_TEST_RUN_ON_CPU = 1


class Sample(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("data", ctypes.c_uint8 * 8)]


def expected(seq: int, size: int) -> bytes:
    return struct.pack("<II", seq, size) + bytes((seq + j) & 0xFF for j in range(8, size))


def emit(obj: Object, count: int, size: int, seq: int = 0, cpu: int = 0) -> tuple[int, int]:
    """Run the producer on `cpu`; returns (samples written, samples the kernel refused)."""
    args = (ctypes.c_uint64 * 3)(count, size, seq)
    res = obj.programs["emit"].test_run(ctx=args, cpu=cpu, flags=BPF_F_TEST_RUN_ON_CPU)
    return res.retval & 0xFFFF, res.retval >> 16


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("perfbuf")) as o:
        o.load()
        yield o


def test_callback_gets_cpu_and_typed_event_in_order(obj):
    got: list[tuple[int, Sample]] = []
    with PerfBuffer(obj.maps["samples"], lambda cpu, ev: got.append((cpu, ev)),
                    event_type=Sample) as pb:
        assert pb.buffer_count >= 1
        assert pb.wait(0.05) is False
        assert emit(obj, 100, 16) == (100, 0)
        assert pb.wait(1) is True
        assert pb.poll(1) == 100
        assert pb.poll(0) == 0
    assert [ev.seq for _, ev in got] == list(range(100))
    assert {cpu for cpu, _ in got} == {0}
    assert bytes(got[7][1].data) == expected(7, 16)[8:]


def test_samples_carry_the_cpu_they_were_written_on(obj):
    ncpu = min(possible_cpus(), 2)
    with PerfBuffer(obj.maps["samples"]) as pb:
        for cpu in range(ncpu):
            assert emit(obj, 3, 24, seq=10 * cpu, cpu=cpu) == (3, 0)
        events = [pb.read(1) for _ in range(3 * ncpu)]
        assert pb.read(0) is None
    assert all(isinstance(e, PerfEvent) for e in events)
    by_cpu = {cpu: [e.event[:24] for e in events if e.cpu == cpu] for cpu in range(ncpu)}
    for cpu in range(ncpu):
        # Raw samples are padded by the kernel; the written bytes come first.
        assert by_cpu[cpu] == [expected(10 * cpu + i, 24) for i in range(3)]


def test_lost_samples_are_counted_and_reported_when_overrun(obj):
    lost: list[tuple[int, int]] = []
    with PerfBuffer(obj.maps["samples"], lost_callback=lambda c, n: lost.append((c, n)),
                    page_count=1) as pb:
        written, refused = emit(obj, 500, 200)       # one 4 KiB page per CPU
        assert refused > 0 and written + refused == 500
        received = []
        for _cpu, ev in pb:
            received.append(ev)
            if len(received) == written:
                break
        assert emit(obj, 1, 200, seq=1000) == (1, 0)  # after room: the kernel reports
        last = pb.read(1)
    assert [struct.unpack_from("<I", r)[0] for r in received] == list(range(written))
    assert last.event[:200] == expected(1000, 200)
    assert lost == [(0, refused)]
    assert pb.lost == refused


def test_iteration_and_async_iteration(obj):
    with PerfBuffer(obj.maps["samples"], event_type=Sample) as pb:
        emit(obj, 5, 16)
        seen = []
        for _cpu, ev in pb:
            seen.append(ev.seq)
            if len(seen) == 5:
                break

        async def main() -> list[int]:
            asyncio.get_running_loop().call_later(0.05, emit, obj, 5, 16, 5)
            out = []
            async for _cpu, ev in pb:
                out.append(ev.seq)
                if len(out) == 5:
                    break
            return out

        seen += asyncio.run(asyncio.wait_for(main(), 10))
    assert seen == list(range(10))


def test_callback_exception_stops_poll_and_nothing_is_lost(obj):
    got: list[int] = []

    def cb(cpu: int, ev: Sample) -> None:
        got.append(ev.seq)
        if ev.seq == 3:
            raise RuntimeError("three")

    with PerfBuffer(obj.maps["samples"], cb, event_type=Sample) as pb:
        emit(obj, 10, 16)
        with pytest.raises(RuntimeError, match="three"):
            pb.poll(1)
        assert pb.consume() == 6
    assert got == list(range(10))


def test_close_from_another_thread_wakes_poll(obj):
    pb = PerfBuffer(obj.maps["samples"], lambda cpu, ev: None)
    errors: list[BaseException] = []

    def poller() -> None:
        try:
            pb.poll(None)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=poller)
    t.start()
    time.sleep(0.1)
    pb.close()
    t.join(2)
    assert not t.is_alive() and len(errors) == 1 and isinstance(errors[0], ClosedError)


def test_object_close_closes_the_perf_buffer(bpf_object_path):
    obj = Object.open(bpf_object_path("perfbuf"))
    obj.load()
    pb = PerfBuffer(obj.maps["samples"])
    obj.close()
    assert pb.closed
    with pytest.raises(ClosedError):
        pb.read(0)


def test_bad_input(obj):
    with pytest.raises(TypeError, match="not a perf_event_array.*RingBuffer"):
        PerfBuffer(obj.maps["not_perf"])
    with pytest.raises(ValueError, match="power of two"):
        PerfBuffer(obj.maps["samples"], page_count=3)
    with pytest.raises(TypeError, match="lost_callback must be callable"):
        PerfBuffer(obj.maps["samples"], lost_callback=1)
    with PerfBuffer(obj.maps["samples"]) as pb:
        with pytest.raises(TypeError, match="none was given"):
            pb.consume()
