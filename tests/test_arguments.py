"""Argument validation (issue 12, item 1 and item 13): sizes, counts, flags and
timeouts are checked against their C types before the kernel sees them -- no silent
truncation, no out-of-bounds write, no giant allocation.

Calls that crashed or exhausted memory before run in a child process (with an
address-space limit), so a regression fails the test, not the suite."""
from __future__ import annotations

import errno
import math
import textwrap

import pytest

from conftest import child_ok, run_python
from libbpfpy import BPFError, MapHandle, NotSupportedError, Object, RingBuffer
from libbpfpy.enums import UpdateFlags

pytestmark = pytest.mark.root


def _child(code: str, *, memory_mb: int | None = None) -> None:
    prelude = ""
    if memory_mb:
        prelude = ("import resource\nresource.setrlimit(resource.RLIMIT_AS, "
                   f"({memory_mb} << 20, {memory_mb} << 20))\n")
    proc = run_python(prelude + textwrap.dedent(code), timeout=180)
    assert proc.returncode == 0, child_ok(proc)


def test_test_run_refuses_sizes_the_kernel_would_overflow(bpf_object_path):
    # data_size_out=0 means "no limit" to the kernel: it wrote the whole packet into a
    # 1-byte buffer (SIGBUS).  Now: ValueError naming the argument, nothing run.
    _child(f"""
        from test_program import udp_packet, UDP_PORT
        from libbpfpy import Object
        with Object.open({bpf_object_path("core_net")!r}) as obj:
            obj.load()
            obj.maps["port_cfg"][0] = UDP_PORT
            prog = obj.programs["tc_count"]
            for bad, exc in ((0, ValueError), (-1, ValueError), (2**32, OverflowError),
                             (1.5, TypeError), ("8", TypeError)):
                try:
                    prog.test_run(udp_packet(), data_size_out=bad)
                except exc as e:
                    assert "data_size_out" in str(e), e
                else:
                    raise AssertionError(f"data_size_out={{bad!r}} accepted")
            assert obj.maps["pkts"][1] == 0, "the program ran"
    """)


def test_test_run_counts_and_flags_are_not_truncated(bpf_object_path):
    with Object.open(bpf_object_path("core_net")) as obj:
        obj.load()
        from test_program import UDP_PORT, udp_packet
        obj.maps["port_cfg"][0] = UDP_PORT
        prog = obj.programs["xdp_count"]
        pkt = udp_packet()
        cases = [(dict(repeat=2**40), OverflowError, "repeat"),
                 (dict(repeat=0), ValueError, "repeat"),
                 (dict(repeat=2.0), TypeError, "repeat"),
                 (dict(flags=2**64), OverflowError, "flags"),
                 (dict(flags=2**32), OverflowError, "flags"),
                 (dict(flags=-1), ValueError, "flags"),
                 (dict(cpu=-1), ValueError, "cpu"),
                 (dict(cpu=2**32), OverflowError, "cpu")]
        for kwargs, exc, name in cases:
            with pytest.raises(exc, match=name):
                prog.test_run(pkt, **kwargs)
        with pytest.raises(TypeError, match="ctx"):
            prog.test_run(pkt, ctx=12)
        assert obj.maps["pkts"][0] == 0   # none of them ran the program
        assert prog.test_run(pkt, repeat=3).retval == 2
        assert obj.maps["pkts"][0] == 3


def test_lookup_batch_chunk_is_bounded_by_max_entries(bpf_object_path):
    # chunk=2**31 allocated (key + value) * chunk up front: 24 GiB.  Under a 1 GiB
    # address-space limit it must now simply work.
    _child(f"""
        from libbpfpy import Object
        with Object.open({bpf_object_path("core_maps")!r}) as obj:
            obj.load()
            m = obj.maps["hash"]
            m.update_batch({{k: k + 1 for k in range(10)}})
            got = sorted(m.lookup_batch(chunk=2**31))
            assert got == [(k, k + 1) for k in range(10)], got
            assert sorted(m.lookup_and_delete_batch(chunk=2**31)) == got
            for bad, exc in ((0, ValueError), (2**32, OverflowError), (1.5, TypeError)):
                try:
                    m.lookup_batch(chunk=bad)
                except exc as e:
                    assert "chunk" in str(e)
                else:
                    raise AssertionError(bad)
    """, memory_mb=1024)


def test_map_flags_are_checked_before_the_kernel(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as obj:
        obj.load()
        m = obj.maps["hash"]
        with pytest.raises(TypeError, match="flags"):
            m.update(1, 1, 1.5)        # used to send flag 1 (NOEXIST), then fail
        assert m.lookup(1) is None     # ... and so create the key
        with pytest.raises(OverflowError, match="flags"):
            m.update(1, 1, 2**64)      # used to become 0 (ANY) and succeed
        assert m.lookup(1) is None
        with pytest.raises(OverflowError, match="flags"):
            m.lookup(1, flags=2**64)
        with pytest.raises(OverflowError, match="flags"):
            m.update_batch([(1, 1)], flags=2**64)
        assert m.lookup(1) is None
        with pytest.raises(OverflowError, match="flags"):
            obj.maps["queue"].push(1, flags=2**65)


def test_map_definition_setters_fit_u32(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as obj:
        m = obj.maps["hash"]
        for attr in ("max_entries", "key_size", "value_size", "flags", "numa_node"):
            with pytest.raises(OverflowError, match=attr):
                setattr(m, attr, 2**32 + 8)
        with pytest.raises(OverflowError, match="map_extra"):
            m.map_extra = 2**64
        assert m.max_entries != 8
    with pytest.raises(OverflowError, match="max_entries"):
        MapHandle.create("hash", 4, 4, 2**32 + 1)


def test_perf_buffer_page_count_is_bounded(bpf_object_path):
    from libbpfpy import PerfBuffer
    with Object.open(bpf_object_path("perfbuf")) as obj:
        obj.load()
        for bad, exc in ((0, ValueError), (3, ValueError), (2**62, ValueError),
                         (2**64, ValueError), (8.0, TypeError)):
            with pytest.raises(exc, match="page_count"):
                PerfBuffer(obj.maps["samples"], page_count=bad)


def test_timeouts_inf_means_forever_and_bad_values_are_named(bpf_object_path):
    import threading
    with Object.open(bpf_object_path("ringbuf")) as obj:
        obj.load()
        with RingBuffer(obj.maps["small"], lambda ev: None) as rb:
            for bad, exc in ((math.nan, ValueError), ("1", TypeError), ([1], TypeError),
                             (True, TypeError)):
                for call in (rb.poll, rb.wait, rb.read, rb.stop):
                    with pytest.raises(exc, match="timeout"):
                        call(bad)
                with pytest.raises(exc, match="timeout"):
                    rb.read_batch(timeout=bad)
            assert rb.poll(-1) == 0            # negative: do not wait
            # inf waits until woken (here by a close from another thread)
            timer = threading.Timer(0.3, rb.close)
            timer.start()
            from libbpfpy import ClosedError
            with pytest.raises(ClosedError):
                rb.poll(math.inf)
            timer.join()


def test_update_batch_with_f_lock_names_the_real_problem(bpf_object_path):
    """EINVAL from a batch call is not "not supported": the map type supports batches,
    the flag needs a spin lock in the value."""
    with Object.open(bpf_object_path("core_maps")) as obj:
        obj.load()
        m = obj.maps["hash"]
        with pytest.raises(BPFError) as info:
            m.update_batch([(1, 1)], flags=UpdateFlags.F_LOCK)
        assert not isinstance(info.value, NotSupportedError)
        assert info.value.errno == errno.EINVAL
        assert "F_LOCK" in str(info.value) and "spin_lock" in str(info.value)
        m.update_batch([(1, 1)])
        assert m[1] == 1
