"""Maps in bulk: to_numpy(), numpy batch updates and deletes, and items()/keys()/
values()/len()/iteration read a chunk at a time -- each checked against what BPF
programs wrote and against the element-by-element view of the same map."""
from __future__ import annotations

import ctypes
import gc
import tracemalloc

import pytest

from libbpfpy import MapFlags, MapHandle, MapType, Object, _bulk, possible_cpus

np = pytest.importorskip("numpy")

pytestmark = pytest.mark.root

NCPU = possible_cpus()


class FillArgs(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint32), ("cpu", ctypes.c_uint32)]


@pytest.fixture
def bulk(bpf_object_path):
    """map_bulk.bpf.o loaded, its `fill` program run for 32 entries; yields
    (object, the CPU the program ran on)."""
    with Object.open(bpf_object_path("map_bulk")) as o:
        o.load()
        args = FillArgs(n=32)
        assert o.programs["fill"].test_run(ctx=args).retval == 0
        yield o, args.cpu


@pytest.fixture
def core(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as o:
        o.load()
        yield o


def raw_entries(m, arr):
    """{key bytes: value bytes} of a to_numpy() array."""
    return {rec["key"].tobytes(): rec["value"].tobytes() for rec in arr}


def item_entries(m):
    """{key bytes: value bytes} of items(), re-encoded with the map's codecs (per-CPU
    values: one value per CPU, each value_size bytes, back to back)."""
    out = {}
    for k, v in m.items():
        vals = v if m.is_percpu else [v]
        out[m.key_codec.encode(k)] = b"".join(m.value_codec.encode(x) for x in vals)
    return out


def check_same(m):
    """to_numpy() and items() describe the same entries; keys(), values(), len()
    and iteration agree with them."""
    arr = m.to_numpy()
    assert arr.dtype.names == ("key", "value")
    got = raw_entries(m, arr)
    assert got == item_entries(m)
    assert len(arr) == len(m) == len(list(m.items()))
    assert sorted(m.key_codec.encode(k) for k in m) == sorted(got)
    assert sorted(m.key_codec.encode(k) for k in m.keys()) == sorted(got)
    assert len(list(m.values())) == len(got)
    if m.is_percpu:
        assert arr["value"].shape[1:2] == (NCPU,)
    return arr


# -- what BPF wrote ---------------------------------------------------------------------

def test_typed_maps_bpf_wrote(bulk):
    o, cpu = bulk
    recs = check_same(o.maps["recs"])
    assert recs.dtype["key"].names == ("hi", "lo", "pad")
    assert set(recs.dtype["value"].names) >= {"id", "name", "color", "on", "delta"}
    by_lo = {int(r["key"]["lo"]): r for r in recs}
    assert sorted(by_lo) == list(range(32))
    for i, r in by_lo.items():
        assert int(r["key"]["hi"]) == i * 1000
        v = r["value"]
        assert int(v["id"]) == 1 << 40 | i
        assert bytes(v["name"]) == b"rec-%d" % (i % 10)
        assert int(v["color"]) == (1, 2, 300)[i % 3]
        assert bool(v["on"]) == bool(i & 1) and int(v["delta"]) == -i
    # items() decodes the same records into the BTF types
    typed = {k.lo: v for k, v in o.maps["recs"].items()}
    assert typed[4].color == 2 and typed[5].color == 300
    assert typed[3].name == b"rec-3" and typed[3].on is True

    sv = check_same(o.maps["signed_vals"])
    assert sv.dtype["value"] == np.dtype("<i4")
    assert dict(zip(sv["key"].tolist(), sv["value"].tolist(), strict=True)) == \
        {i: -7 * i for i in range(32)} == dict(o.maps["signed_vals"].items())

    arr = check_same(o.maps["arr_rec"])
    assert arr["key"].tolist() == list(range(8))
    assert arr["value"]["id"].tolist() == [1 << 40 | i for i in range(8)]


def test_percpu_maps_bpf_wrote(bulk):
    o, cpu = bulk
    tri = check_same(o.maps["pc_tri"])      # 6-byte values in 8-byte per-CPU slots
    assert tri.dtype["value"].shape == (NCPU,)
    for rec in tri:
        i = int(rec["key"])
        for c in range(NCPU):
            want = (i, 2 * i, 0xFFFF - i) if c == cpu else (0, 0, 0)
            assert tuple(int(x) for x in rec["value"][c].tolist()) == want
    lru = check_same(o.maps["lru_pc"])
    assert {int(r["key"]): int(r["value"][cpu]) for r in lru} == {i: 11 * i for i in range(32)}
    arr = check_same(o.maps["pc_arr"])
    assert arr["value"][:, cpu].tolist() == [100 + i for i in range(4)]
    assert dict(o.maps["pc_arr"].items())[2][cpu] == 102


def test_every_core_map_type(core):
    """Every keyed map type of core_maps (BTF-typed) gives the same entries both ways,
    and so does each through a MapHandle (no BTF: raw dtypes and ints/bytes)."""
    o = core
    o.maps["hash"].update({k: k * 5 for k in range(40)})
    o.maps["array"].update({k: k + 1 for k in range(16)})
    o.maps["pcpu_hash"].update({k: [k * 10 + c for c in range(NCPU)] for k in range(9)})
    o.maps["pcpu_array"][2] = [7] * NCPU
    o.maps["lru"].update({1: 1, 2: 2})
    o.maps["bighash"][3] = (33, 4, b"tag")
    from test_map import lpm_key
    o.maps["lpm"][lpm_key("10.1.0.0", 16)] = 16
    o.maps["lpm"][lpm_key("10.2.3.0", 24)] = 24
    names = ["hash", "array", "pcpu_hash", "pcpu_array", "lru", "bighash", "spin", "lpm",
             "outer_hash", "outer_array", "results"]
    for name in names:
        m = o.maps[name]
        check_same(m)
        with MapHandle.from_fd(m.fd) as h:
            arr = check_same(h)
            assert raw_entries(h, arr) == raw_entries(m, m.to_numpy())
    assert o.maps["bighash"].to_numpy()["value"]["tag"].tolist() == [b"tag"]
    outer = o.maps["outer_array"].to_numpy()   # empty slots are not entries
    assert outer["key"].tolist() == [0, 2]
    assert outer["value"].tolist() == [o.maps["inner_a"].id, o.maps["inner_b"].id]


def test_walk_key_by_key_where_the_kernel_has_no_batch_lookup(core, monkeypatch):
    """Map types (or kernels before 5.6) without batch lookups are walked with
    get_next_key + lookup into the same buffers: same results.  The kernel's refusal
    is simulated (every keyed type of this kernel has batch lookups)."""
    from test_map import lpm_key
    o = core
    o.maps["hash"].update({k: k * 5 for k in range(40)})
    o.maps["pcpu_hash"].update({k: [k + c for c in range(NCPU)] for k in range(9)})
    for i in range(12):
        o.maps["lpm"][lpm_key(f"10.{i}.0.0", 16)] = i
    names = ["hash", "pcpu_hash", "lpm", "array", "bighash"]
    batched = {name: raw_entries(o.maps[name], o.maps[name].to_numpy()) for name in names}
    refusals = []

    def refuse(self, keys, values, room):
        refusals.append(self.m.name)
        return -1

    monkeypatch.setattr(_bulk.Batches, "_read_batch", refuse)
    for name in names:
        m = o.maps[name]
        assert raw_entries(m, check_same(m)) == batched[name]
        walk = _bulk.Batches(m)
        keys = np.empty(64 * m.key_size, np.uint8)
        vals = np.empty(64 * walk.value_bytes, np.uint8)
        assert walk.read(keys.ctypes.data, vals.ctypes.data, 64) == len(batched[name])
        assert walk.batched is False
    assert set(refusals) == set(names)
    assert sorted(batched["lpm"].values()) == [i.to_bytes(4, "little") for i in range(12)]


# -- writing from numpy -------------------------------------------------------------------

def test_numpy_update_batch_round_trips(core):
    o = core
    h = o.maps["hash"]
    keys = np.arange(100, dtype=np.uint32)
    vals = keys.astype(np.uint64) ** 2
    assert h.update_batch(keys, vals) == 100
    # BPF sees what numpy wrote
    from test_map import syscall
    assert syscall(o, "read_maps", 9).out[0] == 81
    arr = h.to_numpy()
    assert dict(zip(arr["key"].tolist(), arr["value"].tolist(), strict=True)) == \
        {k: k * k for k in range(100)}
    # a structured array (as to_numpy returns) goes back in as is
    with MapHandle.create("hash", 4, 8, 128) as other:
        assert other.update_batch(arr) == 100
        assert np.array_equal(np.sort(other.to_numpy(), order="key"),
                              np.sort(arr, order="key"))
        # lookup_and_delete_batch into numpy empties it
        taken = other.lookup_and_delete_batch(numpy=True)
        assert sorted(taken["key"].tolist()) == list(range(100)) and len(other) == 0
    assert h.delete_batch(np.arange(0, 100, 2, dtype=np.uint32)) == 50
    assert sorted(h) == list(range(1, 100, 2))


def test_numpy_update_batch_per_cpu(core):
    m = core.maps["pcpu_hash"]
    keys = np.array([1, 2, 3], np.uint32)
    per_cpu = np.arange(3 * NCPU, dtype=np.uint64).reshape(3, NCPU)
    assert m.update_batch(keys, per_cpu) == 3
    assert m[2] == per_cpu[1].tolist()
    from test_map import raw_tp
    for c in range(NCPU):
        assert raw_tp(core, "read_more", 3, 0, c)[3] == per_cpu[2][c]
    assert m.update_batch(keys, np.array([5, 6, 7], np.uint64)) == 3   # same on every CPU
    assert m[3] == [7] * NCPU
    # 4-byte values in 8-byte slots, written and read back through numpy
    with MapHandle.create("percpu_hash", 4, 4, 16) as h:
        v = (np.arange(4 * NCPU, dtype=np.uint32) + 1).reshape(4, NCPU)
        assert h.update_batch(np.arange(4, dtype=np.uint32), v) == 4
        arr = h.to_numpy()
        arr.sort(order="key")
        assert np.array_equal(arr["value"], v)
        assert h[3] == v[3].tolist()


def test_numpy_batch_errors(core):
    h = core.maps["hash"]
    with pytest.raises(ValueError, match="keys of map 'hash'.*items of 8 bytes"):
        h.update_batch(np.arange(3, dtype=np.uint64), np.arange(3, dtype=np.uint64))
    with pytest.raises(ValueError, match="3 keys but 2 values"):
        h.update_batch(np.arange(3, dtype=np.uint32), np.arange(2, dtype=np.uint64))
    with pytest.raises(TypeError, match="fields 'key' and 'value'"):
        h.update_batch(np.arange(3, dtype=np.uint32))
    with pytest.raises(TypeError, match="has no keys"):
        core.maps["queue"].to_numpy()
    assert h.update_batch(np.zeros(0, np.uint32), np.zeros(0, np.uint64)) == 0
    assert len(h) == 0


# -- memory ------------------------------------------------------------------------------

def peak_of_items(m):
    gc.collect()
    tracemalloc.start()
    try:
        n = 0
        for _k, _v in m.items():
            n += 1
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_items_memory_stays_one_chunk():
    """items() over a million entries needs no more memory than over one chunk's worth
    (and far less than the entries themselves would take)."""
    chunk = _bulk.CHUNK_BYTES // 12          # entries of a u32 -> u64 map per chunk
    with MapHandle.create("hash", 4, 8, 1_000_000) as big, \
            MapHandle.create("hash", 4, 8, chunk) as small:
        keys = np.arange(1_000_000, dtype=np.uint32)
        big.update_batch(keys, keys.astype(np.uint64))
        small.update_batch(keys[:chunk], keys[:chunk].astype(np.uint64))
        n_small, peak_small = peak_of_items(small)
        n_big, peak_big = peak_of_items(big)
    assert (n_small, n_big) == (chunk, 1_000_000)
    assert peak_big < 1.5 * peak_small + (1 << 20), (peak_big, peak_small)
    assert peak_big < 16 << 20        # a list of a million pairs takes > 100 MB


def test_items_of_a_map_without_batch_ops_still_walk(core):
    q = core.maps["queue"]
    with pytest.raises(TypeError, match="has no keys"):
        list(q.items())
    with pytest.raises(TypeError, match="has no keys"):
        len(q)


def test_create_flags_no_prealloc_hash_reads_in_bulk():
    with MapHandle.create(MapType.HASH, 8, 16, 5000, flags=MapFlags.NO_PREALLOC) as h:
        keys = np.arange(4000, dtype=np.uint64)
        vals = np.zeros(4000, "V16")
        vals.view(np.uint64).reshape(4000, 2)[:, 1] = keys * 3
        assert h.update_batch(keys, vals) == 4000
        arr = check_same(h)
        assert arr.dtype["value"] == np.dtype("V16")
        got = {int(r["key"]): np.frombuffer(r["value"].tobytes(), np.uint64)[1] for r in arr}
        assert got == {k: 3 * k for k in range(4000)}
        assert h[7] == (0).to_bytes(8, "little") + (21).to_bytes(8, "little")
