"""UserRingBuffer: records written from Python, drained by a BPF program
(bpf_user_ringbuf_drain) that echoes each one into a ring buffer we read back."""
from __future__ import annotations

import ctypes
import errno
import struct
import threading
import time

import pytest

from libbpfpy import BPFError, ClosedError, Object, RingBuffer, Sample, UserRingBuffer

pytestmark = pytest.mark.root

RING = 4 * 4096


class DrainArgs(ctypes.Structure):
    _fields_ = [("max", ctypes.c_uint32), ("drained", ctypes.c_uint32),
                ("bad", ctypes.c_uint32), ("ret", ctypes.c_int32)]


def request(payload: bytes) -> bytes:
    """The record format the drain program expects: {u32 len; u8 data[len]}."""
    return struct.pack("<I", len(payload)) + payload


def drain(obj: Object, max_: int = 0) -> DrainArgs:
    args = DrainArgs(max=max_)
    assert obj.programs["drain"].test_run(ctx=args).retval == 0
    return args


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("ringbuf")) as o:
        o.load()
        yield o


def test_written_records_arrive_intact_in_bpf(obj):
    payloads = [bytes((i * 31 + j) & 0xFF for j in range(i * 37 % 700)) for i in range(60)]
    echoed: list[bytes] = []
    with UserRingBuffer(obj.maps["requests"]) as urb, \
            RingBuffer(obj.maps["big"], echoed.append) as rb:
        sent = 0
        for p in payloads:
            try:
                urb.write(request(p))
            except BPFError as exc:        # ring full: let BPF drain it, then retry
                assert exc.errno == errno.ENOSPC
                d = drain(obj)
                assert d.bad == 0 and d.drained == sent
                sent = 0
                urb.write(request(p))
            sent += 1
        d = drain(obj)
        assert (d.drained, d.bad, d.ret) == (sent, 0, sent)
        rb.consume()
    assert echoed == [request(p) for p in payloads]


def test_reserve_fill_submit_and_discard(obj):
    echoed: list[bytes] = []
    with UserRingBuffer(obj.maps["requests"]) as urb, \
            RingBuffer(obj.maps["big"], echoed.append) as rb:
        a = urb.reserve(12)
        assert isinstance(a, Sample) and len(a) == 12 and a.pending
        struct.pack_into("<I8s", a, 0, 8, b"first!!!")
        b = urb.reserve(8)
        b[0:8] = request(b"zzzz")
        with pytest.raises(BufferError):
            a[:] = b"too short"                # a reservation cannot change size
        b.discard()                            # discarded: BPF never sees it
        a.submit()
        assert a.submitted and not a.pending
        with pytest.raises(ValueError, match="already submitted"):
            a.submit()
        with urb.reserve(9) as c:              # context manager: submitted on exit
            c[:] = request(b"third")
        with pytest.raises(RuntimeError), urb.reserve(9) as d:
            d[:] = request(b"never")
            raise RuntimeError("discard me")
        assert not d.pending and not d.submitted
        a[0:4] = b"\xff\xff\xff\xff"           # writing after submit touches only our copy
        assert drain(obj).drained == 2
        rb.consume()
    assert echoed == [request(b"first!!!"), request(b"third")]


def test_full_ring_raises_enospc_and_reserve_blocking_times_out(obj):
    with UserRingBuffer(obj.maps["requests"]) as urb:
        n = 0
        with pytest.raises(BPFError) as info:
            while True:
                urb.write(request(bytes(1000)))
                n += 1
        assert info.value.errno == errno.ENOSPC and n == RING // 1016
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            urb.reserve_blocking(1004, timeout=0.2)
        assert time.monotonic() - t0 >= 0.19


def test_reserve_blocking_wakes_when_bpf_drains(obj):
    with UserRingBuffer(obj.maps["requests"]) as urb:
        while True:
            try:
                urb.write(request(bytes(1000)))
            except BPFError:
                break
        timer = threading.Timer(0.1, drain, (obj,))
        timer.start()
        try:
            t0 = time.monotonic()
            sample = urb.reserve_blocking(1004, timeout=5)
            took = time.monotonic() - t0
        finally:
            timer.join()
        assert 0.05 < took < 4
        sample.discard()


def test_close_wakes_reserve_blocking_and_discards_outstanding(obj):
    urb = UserRingBuffer(obj.maps["requests"])
    while True:
        try:
            urb.write(request(bytes(1000)))
        except BPFError:
            break
    drain(obj)
    held = urb.reserve(100)
    for _ in range(RING // 1016 - 1):
        urb.write(request(bytes(1000)))
    errors: list[BaseException] = []

    def blocked() -> None:
        try:
            urb.reserve_blocking(2000)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.1)
    urb.close()
    t.join(2)
    assert not t.is_alive() and len(errors) == 1 and isinstance(errors[0], ClosedError)
    with pytest.raises(ClosedError):
        held.submit()
    with pytest.raises(ClosedError):
        urb.write(b"x")
    # The held reservation was discarded: a new producer's records get through.
    with UserRingBuffer(obj.maps["requests"]) as again:
        d = drain(obj)
        assert d.drained == RING // 1016 - 1 and d.bad == 0
        again.write(request(b"after"))
        assert drain(obj).drained == 1


def test_bad_input(obj):
    with pytest.raises(TypeError, match="not a user_ringbuf"):
        UserRingBuffer(obj.maps["big"])
    with UserRingBuffer(obj.maps["requests"]) as urb:
        with pytest.raises(ValueError, match="positive"):
            urb.reserve(0)
        with pytest.raises(ValueError, match="does not fit"):
            urb.reserve(RING)
        with pytest.raises(TypeError):
            urb.write(42)


def test_object_close_closes_the_user_ring_buffer(bpf_object_path):
    obj = Object.open(bpf_object_path("ringbuf"))
    obj.load()
    urb = UserRingBuffer(obj.maps["requests"])
    sample = urb.reserve(16)
    obj.close()
    assert urb.closed
    with pytest.raises(ClosedError):
        sample.submit()
    sample[0:4] = b"safe"          # our own copy: harmless after close


def test_write_accepts_ctypes_values_and_memoryviews(obj):
    class Req(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint32), ("data", ctypes.c_char * 6)]

    echoed: list[bytes] = []
    with UserRingBuffer(obj.maps["requests"]) as urb, \
            RingBuffer(obj.maps["big"], echoed.append) as rb:
        urb.write(Req(6, b"ctypes"))
        urb.write(memoryview(bytearray(request(b"view"))))
        assert drain(obj).drained == 2
        rb.consume()
    assert echoed == [request(b"ctypes"), request(b"view")]
