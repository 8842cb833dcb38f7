"""Maps: every operation on every covered map type, checked against values BPF
programs wrote and values Python wrote that BPF programs read."""
from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import uuid

import pytest

from libbpfpy import (
    BPFError,
    ClosedError,
    Map,
    MapFlags,
    MapHandle,
    MapInfo,
    MapType,
    NotSupportedError,
    Object,
    UpdateFlags,
    fs,
    possible_cpus,
)

pytestmark = pytest.mark.root


class Args(ctypes.Structure):
    _fields_ = [("key", ctypes.c_uint32), ("cpu", ctypes.c_uint32),
                ("value", ctypes.c_uint64), ("out", ctypes.c_int64 * 4),
                ("ret", ctypes.c_int32), ("pad", ctypes.c_uint32)]


class Big(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint64), ("b", ctypes.c_uint32), ("tag", ctypes.c_char * 12)]


class Locked(ctypes.Structure):
    _fields_ = [("lock", ctypes.c_uint32), ("a", ctypes.c_uint32), ("b", ctypes.c_uint64)]


class LpmKey(ctypes.Structure):
    _fields_ = [("prefixlen", ctypes.c_uint32), ("addr", ctypes.c_uint8 * 4)]


def lpm_key(prefix: str, plen: int) -> LpmKey:
    k = LpmKey(prefixlen=plen)
    ctypes.memmove(k.addr, socket.inet_aton(prefix), 4)
    return k


def addr_value(dotted: str) -> int:
    """The u32 whose bytes in memory are the address (what the BPF side copies)."""
    return int.from_bytes(socket.inet_aton(dotted), "little")


@pytest.fixture
def obj(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as o:
        o.load()
        yield o


def syscall(obj: Object, prog: str, key: int = 0, value: int = 0) -> Args:
    args = Args(key=key, value=value)
    assert obj.programs[prog].test_run(ctx=args).retval == 0
    return args


def raw_tp(obj: Object, prog: str, *args: int) -> list[int]:
    # the kernel wants a context as large as the program reads: pad to 4 args
    ctx = struct.pack("4Q", *(list(args) + [0] * (4 - len(args))))
    assert obj.programs[prog].test_run(ctx=ctx).retval == 0
    return [obj.maps["results"][i] for i in range(8)]


def signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# -- hash ---------------------------------------------------------------------------------

def test_hash_values_bpf_wrote(obj):
    m = obj.maps["hash"]
    assert isinstance(m, Map) and m.type is MapType.HASH
    assert (m.key_size, m.value_size, m.max_entries) == (4, 8, 128)
    for k in (3, 9, 15):
        assert syscall(obj, "write_maps", k, k * 111).ret == 0
    assert m[9] == 999 and m.lookup(15) == 1665
    assert m.lookup(4) is None and 4 not in m and 9 in m
    assert len(m) == 3
    assert sorted(m) == [3, 9, 15]
    assert sorted(m.keys()) == [3, 9, 15]
    assert sorted(m.items()) == [(3, 333), (9, 999), (15, 1665)]
    assert sorted(m.values()) == [333, 999, 1665]
    assert dict(m) == {3: 333, 9: 999, 15: 1665}
    assert m.get(5) is None and m.get(5, "dflt") == "dflt"
    with pytest.raises(KeyError):
        m[5]


def test_hash_values_python_wrote_reach_bpf(obj):
    m = obj.maps["hash"]
    m[5] = 50
    m.update(6, 60)
    m.update({7: 70, 8: 80})
    m.update([(10, 100)])
    out = [syscall(obj, "read_maps", k).out[0] for k in (5, 6, 7, 8, 10, 11)]
    assert out == [50, 60, 70, 80, 100, -1]
    m[5] = -2  # signed ints are stored as two's complement
    assert signed(m[5]) == -2
    assert syscall(obj, "read_maps", 5).out[0] == -2
    m[6] = (123).to_bytes(8, "little")
    m[7] = ctypes.c_uint64(77)
    assert (m[6], m[7]) == (123, 77)
    m[ctypes.c_uint32(8)] = 88
    assert m[b"\x08\0\0\0"] == 88


def test_hash_update_flags(obj):
    m = obj.maps["hash"]
    m.update(1, 10, UpdateFlags.NOEXIST)
    with pytest.raises(BPFError, match="already exists") as info:
        m.update(1, 11, UpdateFlags.NOEXIST)
    assert info.value.errno == errno.EEXIST
    assert m[1] == 10
    m.update(1, 12, flags=UpdateFlags.EXIST)
    assert m[1] == 12
    with pytest.raises(KeyError):
        m.update(2, 20, flags=UpdateFlags.EXIST)
    assert 2 not in m
    m.update(2, 21, flags=UpdateFlags.ANY)
    assert syscall(obj, "read_maps", 2).out[0] == 21
    with pytest.raises(TypeError, match="unexpected keyword"):
        m.update(3, 4, flag=1)


def test_hash_delete_pop_next_key(obj):
    m = obj.maps["hash"]
    for k in (1, 2, 3):
        syscall(obj, "write_maps", k, k + 100)
    assert m.delete(1) is True
    assert m.delete(1) is False
    assert syscall(obj, "read_maps", 1).out[0] == -1  # BPF sees it gone
    del m[2]
    with pytest.raises(KeyError):
        del m[2]
    assert m.lookup_and_delete(3) == 103
    assert m.lookup_and_delete(3) is None
    for k in (4, 5, 6):
        m[k] = k
    first = m.next_key()
    seen = [first]
    while (nxt := m.next_key(seen[-1])) is not None:
        seen.append(nxt)
    assert sorted(seen) == [4, 5, 6]
    assert m.pop(4) == 4 and m.pop(4, "gone") == "gone"
    with pytest.raises(KeyError):
        m.pop(4)
    assert m.setdefault(9, 90) == 90 and m[9] == 90
    m.clear()
    assert len(m) == 0 and m.next_key() is None


def test_hash_full(obj):
    m = obj.maps["hash"]
    m.update_batch([(k, k) for k in range(128)])
    with pytest.raises(BPFError, match=r"is full \(max_entries=128\)") as info:
        m[1000] = 1
    assert info.value.errno == errno.E2BIG


# -- bad keys and values ------------------------------------------------------------------

def test_wrong_sizes_and_types_are_clear_errors(obj):
    m = obj.maps["hash"]
    with pytest.raises(ValueError, match="key of map 'hash' must be 4 bytes, got 3"):
        m[b"abc"] = 1
    with pytest.raises(ValueError, match="value of map 'hash' must be 8 bytes, got 2"):
        m[1] = b"ab"
    with pytest.raises(TypeError, match="key of map 'hash'.*got str"):
        m["one"] = 1
    with pytest.raises(TypeError, match="value of map 'hash'"):
        m[1] = 1.5
    with pytest.raises(ValueError, match="does not fit in 4 bytes"):
        m[1 << 40] = 1
    with pytest.raises(ValueError, match="must be 4 bytes"):
        m.lookup(ctypes.c_uint64(1))
    with pytest.raises(ValueError, match="must be 24 bytes"):
        obj.maps["bighash"][1] = Locked()
    assert len(m) == 0  # nothing was written


# -- array --------------------------------------------------------------------------------

def test_array(obj):
    m = obj.maps["array"]
    assert m.type is MapType.ARRAY
    assert len(m) == 16
    assert list(m) == list(range(16))
    assert m[3] == 0  # array elements always exist
    syscall(obj, "write_maps", 3, 33)
    assert m[3] == 33
    m[4] = 44
    assert syscall(obj, "read_maps", 4).out[1] == 44
    assert m.lookup(16) is None
    with pytest.raises(IndexError, match="out of range"):
        m[16] = 1
    with pytest.raises(BPFError) as info:
        m.delete(3)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(NotSupportedError, match="cannot be deleted"):
        m.clear()
    m.update(5, 55, UpdateFlags.EXIST)  # every index exists
    with pytest.raises(BPFError):
        m.update(5, 56, UpdateFlags.NOEXIST)


def test_struct_values_are_bytes(obj):
    m = obj.maps["bighash"]
    syscall(obj, "write_maps", 2, 0xABCDEF)
    got = m[2]  # bytes, or a ctypes struct typed from BTF
    raw = bytes(got)
    assert len(raw) == 24
    big = Big.from_buffer_copy(raw)
    assert (big.a, big.b, big.tag) == (0xABCDEF, 2, b"from-bpf")
    m[5] = Big(a=12345, b=5, tag=b"from-python")
    assert syscall(obj, "read_maps", 5).out[2] == 12345
    assert Big.from_buffer_copy(bytes(m[5])).tag == b"from-python"


# -- per-CPU ------------------------------------------------------------------------------

def test_possible_cpus_matches_sysfs():
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    count = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    assert possible_cpus() == count


def test_percpu_hash(obj):
    m = obj.maps["pcpu_hash"]
    ncpu = possible_cpus()
    assert m.is_percpu
    cpu = raw_tp(obj, "write_more", 6, 600)[1]
    values = m[6]
    assert len(values) == ncpu
    assert values[cpu] == 600 and sum(values) == 600
    m[7] = [100 + c for c in range(ncpu)]
    for c in range(ncpu):
        assert raw_tp(obj, "read_more", 7, 0, c)[3] == 100 + c
    m[8] = 5  # one value for every CPU
    assert m[8] == [5] * ncpu
    with pytest.raises(ValueError, match=f"needs {ncpu} values"):
        m[9] = [1] * (ncpu + 1)
    assert sorted(m.lookup_batch()) == [(6, values), (7, [100 + c for c in range(ncpu)]),
                                        (8, [5] * ncpu)]


def test_percpu_array(obj):
    m = obj.maps["pcpu_array"]
    ncpu = possible_cpus()
    assert m[0] == [0] * ncpu
    m[1] = [7 * (c + 1) for c in range(ncpu)]
    for c in range(ncpu):
        assert raw_tp(obj, "read_more", 1, 0, c)[0] == 7 * (c + 1)
    assert m[1] == [7 * (c + 1) for c in range(ncpu)]
    assert len(m.lookup_batch()) == 4


# -- LRU ----------------------------------------------------------------------------------

def test_lru_evicts(obj):
    m = obj.maps["lru"]
    assert m.type is MapType.LRU_HASH
    for k in range(1, 5):
        raw_tp(obj, "write_more", k, k * 10)
    assert raw_tp(obj, "read_more", 2)[4] == 20  # touch 2
    for k in range(5, 40):
        m[k] = k
    assert len(m) <= 4 + possible_cpus()  # LRU lists may keep a few per CPU
    assert m[39] == 39
    assert 1 not in m
    m[50] = 500
    assert raw_tp(obj, "read_more", 50)[4] == 500


# -- queue, stack, bloom ------------------------------------------------------------------

def test_queue_fifo(obj):
    q = obj.maps["queue"]
    assert q.type is MapType.QUEUE and q.key_size == 0
    for v in (11, 22, 33):
        raw_tp(obj, "write_more", 0, v)
    assert q.peek() == 11
    assert q.pop() == 11 and q.pop() == 22
    q.push(44)
    q.push(55)
    assert raw_tp(obj, "pop_maps")[0] == 33
    assert raw_tp(obj, "pop_maps")[0] == 44
    assert q.pop() == 55
    assert q.pop() is None and q.peek() is None
    for v in range(8):
        q.push(v)
    with pytest.raises(BPFError, match="queue map 'queue' is full"):
        q.push(8)
    q.push(8, flags=UpdateFlags.EXIST)  # overwrite the oldest
    assert [q.pop() for _ in range(8)] == [1, 2, 3, 4, 5, 6, 7, 8]
    with pytest.raises(TypeError, match="has no keys"):
        list(q)
    with pytest.raises(TypeError, match="has no keys"):
        q[0]
    with pytest.raises(TypeError):
        len(q)


def test_stack_lifo(obj):
    s = obj.maps["stack"]
    for v in (1, 2, 3):
        raw_tp(obj, "write_more", 0, v)
    assert s.peek() == 3
    assert s.pop() == 3
    s.push(9)
    assert raw_tp(obj, "pop_maps")[1] == 9
    assert [s.pop(), s.pop(), s.pop()] == [2, 1, None]


def test_bloom_filter(obj):
    b = obj.maps["bloom"]
    assert b.type is MapType.BLOOM_FILTER and b.map_extra == 3
    raw_tp(obj, "write_more", 0, 0xBEEF)
    assert b.may_contain(0xBEEF) and 0xBEEF in b
    assert 0xDEAD not in b  # 3 hashes over 64 slots: a false positive is unlikely
    b.push(0x1234)
    assert raw_tp(obj, "read_more", 0, 0x1234)[1] == 1
    assert raw_tp(obj, "read_more", 0, 0x4321)[1] == 0
    with pytest.raises(TypeError, match="cannot be peeked"):
        b.peek()
    with pytest.raises(TypeError, match="for bloom filters"):
        obj.maps["hash"].may_contain(1)


# -- LPM trie -----------------------------------------------------------------------------

def test_lpm_trie(obj):
    t = obj.maps["lpm"]
    assert t.type is MapType.LPM_TRIE and t.flags & MapFlags.NO_PREALLOC
    raw_tp(obj, "write_more", 7, addr_value("10.1.2.0"))  # BPF adds 10.1.2.0/24 -> 7
    assert t[lpm_key("10.1.2.77", 32)] == 7
    assert t.lookup(lpm_key("10.1.3.1", 32)) is None
    t[lpm_key("10.9.0.0", 16)] = 99
    t[lpm_key("10.9.8.0", 24)] = 98
    assert raw_tp(obj, "read_more", 0, addr_value("10.9.3.4"))[2] == 99
    assert raw_tp(obj, "read_more", 0, addr_value("10.9.8.4"))[2] == 98
    assert raw_tp(obj, "read_more", 0, addr_value("192.168.0.1"))[2] == -1
    keys = sorted((LpmKey.from_buffer_copy(bytes(k)).prefixlen,
                   bytes(LpmKey.from_buffer_copy(bytes(k)).addr)) for k in t)
    assert keys == [(16, socket.inet_aton("10.9.0.0")), (24, socket.inet_aton("10.1.2.0")),
                    (24, socket.inet_aton("10.9.8.0"))]
    del t[lpm_key("10.9.8.0", 24)]
    assert raw_tp(obj, "read_more", 0, addr_value("10.9.8.4"))[2] == 99


# -- maps of maps -------------------------------------------------------------------------

def test_hash_of_maps(obj):
    outer = obj.maps["outer_hash"]
    inner_a = obj.maps["inner_a"]
    assert outer.type is MapType.HASH_OF_MAPS
    assert outer[1] == inner_a.id  # user space reads an inner map's id
    inner_a[0] = 5
    assert raw_tp(obj, "read_inner", 1)[0] == 5
    with MapHandle.create(MapType.ARRAY, 4, 8, 4, name="py_inner") as mine:
        mine[0] = 77
        outer[2] = mine  # a map (or its fd) goes in
        assert raw_tp(obj, "read_inner", 2)[0] == 77
        with outer.inner(2) as again:
            assert again.info().id == mine.info().id and again[0] == 77
        assert outer.inner(3) is None
        del outer[2]
        assert raw_tp(obj, "read_inner", 2)[0] == -1
    with MapHandle.create("hash", 4, 8, 4) as wrong:
        with pytest.raises(BPFError) as info:
            outer[3] = wrong  # not compatible with the inner template
        assert info.value.errno == errno.EINVAL
    with pytest.raises(TypeError, match="not a map of maps"):
        obj.maps["hash"].inner(1)


def test_array_of_maps(obj):
    outer = obj.maps["outer_array"]
    assert outer.type is MapType.ARRAY_OF_MAPS
    obj.maps["inner_a"][0] = 10
    obj.maps["inner_b"][0] = 20
    assert raw_tp(obj, "read_inner", 0)[1] == 10
    assert raw_tp(obj, "read_inner", 2)[1] == 20
    outer[0] = obj.maps["inner_b"]
    assert raw_tp(obj, "read_inner", 0)[1] == 20
    assert outer.lookup(1) is None


def test_inner_map_setter_before_load(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as o:
        with MapHandle.create(MapType.ARRAY, 4, 8, 4) as template:
            o.maps["outer_hash"].inner_map = template
            o.load()
        with pytest.raises(BPFError, match="before the object is loaded"):
            o.maps["outer_hash"].inner_map = o.maps["inner_a"]
        with pytest.raises(AttributeError, match="write-only"):
            o.maps["outer_hash"].inner_map  # noqa: B018


# -- batch operations ---------------------------------------------------------------------

def test_batch_operations_on_hash(obj):
    m = obj.maps["hash"]
    assert m.update_batch({k: k * 3 for k in range(50)}) == 50
    assert syscall(obj, "read_maps", 49).out[0] == 147
    for chunk in (1, 7, 256):
        assert sorted(m.lookup_batch(chunk=chunk)) == [(k, k * 3) for k in range(50)]
    for k in range(50, 60):
        syscall(obj, "write_maps", k, k)
    assert len(m.lookup_batch()) == 60
    assert m.delete_batch(range(0, 60, 2)) == 30
    assert sorted(m) == list(range(1, 60, 2))
    got = m.lookup_and_delete_batch(chunk=4)
    assert sorted(got) == [(k, k * 3 if k < 50 else k) for k in range(1, 60, 2)]
    assert len(m) == 0
    assert m.update_batch([]) == 0 and m.delete_batch([]) == 0
    m.update_batch([(1, 1)])
    with pytest.raises(BPFError):
        m.update_batch([(1, 2)], flags=UpdateFlags.NOEXIST)
    with pytest.raises(ValueError, match="chunk must be"):
        m.lookup_batch(chunk=0)


def test_batch_operations_on_array(obj):
    m = obj.maps["array"]
    m.update_batch([(k, 1000 + k) for k in range(16)])
    assert syscall(obj, "read_maps", 15).out[1] == 1015
    assert m.lookup_batch(chunk=5) == [(k, 1000 + k) for k in range(16)]
    with pytest.raises(NotSupportedError):
        m.lookup_and_delete_batch()


# -- freeze -------------------------------------------------------------------------------

def test_freeze(obj):
    m = obj.maps["hash"]
    m[1] = 1
    m.freeze()
    with pytest.raises(BPFError, match="frozen") as info:
        m[2] = 2
    assert info.value.errno == errno.EPERM
    with pytest.raises(BPFError, match="frozen"):
        del m[1]
    syscall(obj, "write_maps", 3, 30)  # BPF programs still write
    assert m[3] == 30 and m[1] == 1


# -- spin locks ---------------------------------------------------------------------------

def test_spin_lock_values_with_f_lock(obj):
    m = obj.maps["spin"]
    m.update(7, Locked(a=7, b=70), UpdateFlags.F_LOCK)
    res = obj.programs["spin_update"].test_run(b"\0" * 64)
    assert res.retval == 0
    assert [obj.maps["results"][0], obj.maps["results"][1]] == [7, 70]
    got = Locked.from_buffer_copy(bytes(m.lookup(7, flags=UpdateFlags.F_LOCK)))
    assert (got.a, got.b) == (7, 71)  # BPF added one under the lock
    with pytest.raises(BPFError):
        obj.maps["hash"].update(1, 1, UpdateFlags.F_LOCK)  # no lock in this value


# -- pinning, ids, fds --------------------------------------------------------------------

@pytest.fixture
def pin_path():
    fs.mount_bpffs()
    path = os.path.join(fs.BPFFS, f"libbpfpy-map-{uuid.uuid4().hex[:8]}")
    yield path
    if os.path.exists(path):
        os.unlink(path)


def test_map_pin_from_pin_and_survival(bpf_object_path, pin_path):
    with Object.open(bpf_object_path("core_maps")) as o:
        o.load()
        o.maps["hash"][1] = 11
        o.maps["hash"].pin(pin_path)
        assert os.path.exists(pin_path)
    with MapHandle.from_pin(pin_path) as h:  # outlived its object
        assert h.name == "hash" and h[1] == 11
        h[2] = 22
        assert h.pin_path == pin_path
    with Object.open(bpf_object_path("core_maps")) as o:
        with MapHandle.from_pin(pin_path) as h:
            o.maps["hash"].reuse_fd(h.fd)  # libbpf keeps its own duplicate
        o.load()
        assert syscall(o, "read_maps", 2).out[0] == 22  # BPF reads the pinned map
        o.maps["hash"].unpin(pin_path)
    assert not os.path.exists(pin_path)


def test_map_handle_pin_unpin(pin_path):
    with MapHandle.create(MapType.HASH, 4, 4, 8, name="pinme") as h:
        with pytest.raises(ValueError, match="give the pin's path"):
            h.unpin()
        h.pin(pin_path)
        h[1] = 2
        with MapHandle.from_pin(pin_path) as again:
            assert again[1] == 2
        h.unpin()
        assert not os.path.exists(pin_path)
        with pytest.raises(BPFError) as info:
            h.unpin(pin_path)
        assert info.value.errno == errno.ENOENT


def test_from_id_from_fd_and_info(obj):
    m = obj.maps["hash"]
    info = m.info()
    assert isinstance(info, MapInfo)
    assert (info.type, info.name, info.key_size, info.value_size, info.max_entries) == (
        MapType.HASH, "hash", 4, 8, 128)
    assert info.btf_id > 0 and info.btf_value_type_id > 0
    assert m.id == info.id
    m[4] = 40
    with MapHandle.from_id(info.id) as h:
        assert h[4] == 40 and h.info() == m.info()
        h[5] = 50
    assert m[5] == 50
    with MapHandle.from_fd(m.fd) as h:
        assert h.fd != m.fd and h[4] == 40
    assert m[4] == 40  # the object's fd is untouched


def test_from_pin_id_fd_errors(obj, pin_path, tmp_path):
    with pytest.raises(BPFError) as info:
        MapHandle.from_id(0x7FFFFFF0)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(BPFError, match="is not a BPF map \\(it is a BPF prog\\)"):
        MapHandle.from_fd(obj.programs["write_maps"].fd)
    r, w = os.pipe()
    try:
        with pytest.raises(BPFError, match=f"fd {r} is not a BPF map"):
            MapHandle.from_fd(r)
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(BPFError) as info:
        MapHandle.from_fd(987654)
    assert info.value.errno == errno.EBADF
    with pytest.raises(BPFError) as info:
        MapHandle.from_pin(pin_path)
    assert info.value.errno == errno.ENOENT
    obj.programs["write_maps"].pin(pin_path)
    with pytest.raises(BPFError, match="not a BPF map"):
        MapHandle.from_pin(pin_path)
    obj.programs["write_maps"].unpin(pin_path)
    with pytest.raises(BPFError, match="not on a BPF filesystem"):
        obj.maps["hash"].pin(tmp_path / "x")


# -- setters before load ------------------------------------------------------------------

def test_setters_before_load(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as o:
        hash_, lru, big, bloom = o.maps["hash"], o.maps["lru"], o.maps["bighash"], \
            o.maps["bloom"]
        hash_.max_entries = 1000
        lru.type = MapType.HASH
        lru.key_size = 4
        big.value_size = 32
        hash_.flags = MapFlags.NO_PREALLOC
        bloom.map_extra = 5
        assert (hash_.max_entries, lru.type, big.value_size, bloom.map_extra) == (
            1000, MapType.HASH, 32, 5)
        assert hash_.flags == MapFlags.NO_PREALLOC
        assert hash_.numa_node == 0 and hash_.ifindex == 0 and not hash_.is_internal
        assert hash_.btf_key_type_id > 0 and hash_.btf_value_type_id > 0
        assert hash_.autocreate and hash_.pin_path is None
        with pytest.raises(BPFError, match="has no fd"):
            _ = hash_.fd
        o.load()
        assert hash_.info().max_entries == 1000
        assert hash_.info().flags & MapFlags.NO_PREALLOC
        assert lru.info().type == MapType.HASH
        assert big.info().value_size == 32
        assert bloom.info().map_extra == 5
        syscall(o, "write_maps", 3, 3)
        assert len(big[3]) == 32
        for setter in (lambda: setattr(hash_, "max_entries", 5),
                       lambda: setattr(hash_, "type", MapType.ARRAY),
                       lambda: setattr(hash_, "key_size", 8),
                       lambda: setattr(hash_, "value_size", 4),
                       lambda: setattr(hash_, "flags", 0),
                       lambda: setattr(hash_, "autocreate", False),
                       lambda: setattr(bloom, "map_extra", 1),
                       lambda: hash_.reuse_fd(3)):
            with pytest.raises(BPFError, match="before the object is loaded"):
                setter()


def test_autocreate_off(bpf_object_path):
    with Object.open(bpf_object_path("core_obj")) as o:
        o.maps["scratch"].autocreate = False
        o.maps["pinned_counts"].pin_path = None
        assert not o.maps["scratch"].autocreate
        o.load()
        with pytest.raises(BPFError, match="has no fd"):
            _ = o.maps["scratch"].fd


def test_pin_path_setter_pins_at_load(bpf_object_path, pin_path):
    with Object.open(bpf_object_path("core_maps")) as o:
        o.maps["array"].pin_path = pin_path
        assert o.maps["array"].pin_path == pin_path
        o.load()
        assert o.maps["array"].is_pinned and os.path.exists(pin_path)
        o.maps["array"][1] = 111
        o.maps["array"].unpin()
    assert not os.path.exists(pin_path)


def test_reuse_fd_shares_a_map_with_bpf(bpf_object_path):
    with MapHandle.create(MapType.HASH, 4, 8, 128, name="shared") as shared:
        shared[1] = 10
        with Object.open(bpf_object_path("core_maps")) as o:
            o.maps["hash"].reuse_fd(shared.fd)
            o.load()
            assert syscall(o, "read_maps", 1).out[0] == 10
            syscall(o, "write_maps", 2, 20)
        assert shared[2] == 20  # written by BPF into our map


# -- MapHandle.create ---------------------------------------------------------------------

@pytest.mark.parametrize("mtype, key, value, kw", [
    ("hash", 4, 8, {}), ("array", 4, 8, {}), ("percpu_hash", 4, 8, {}),
    ("percpu_array", 4, 8, {}), ("lru_hash", 4, 8, {}),
    ("lpm_trie", 8, 4, {"flags": MapFlags.NO_PREALLOC}),
])
def test_create_keyed_maps(mtype, key, value, kw):
    with MapHandle.create(mtype, key, value, 8, name=f"c_{mtype[:10]}", **kw) as m:
        assert m.type.libbpf_name == mtype and m.name == f"c_{mtype[:10]}"
        k = lpm_key("1.2.3.0", 24) if mtype == "lpm_trie" else 3
        m[k] = 5
        expect = [5] * possible_cpus() if m.is_percpu else 5
        assert m[k] == expect
        assert m.info().key_size == key


@pytest.mark.parametrize("mtype", ["queue", "stack", "bloom_filter"])
def test_create_keyless_maps(mtype):
    with MapHandle.create(mtype, 0, 4, 8, map_extra=2 if mtype == "bloom_filter" else 0) as m:
        m.push(41)
        m.push(42)
        if mtype == "bloom_filter":
            assert 41 in m and 42 in m
        else:
            assert m.pop() == (41 if mtype == "queue" else 42)


def test_create_map_of_maps():
    with MapHandle.create(MapType.ARRAY, 4, 4, 2) as tmpl, \
            MapHandle.create(MapType.HASH_OF_MAPS, 4, 4, 4, inner_map=tmpl) as outer, \
            MapHandle.create(MapType.ARRAY, 4, 4, 2) as inner:
        inner[1] = 9
        outer[5] = inner
        with outer.inner(5) as got:
            assert got[1] == 9


def test_create_errors():
    with pytest.raises(BPFError, match=r"rejected hash map bad \(key_size=0") as info:
        MapHandle.create("hash", 0, 8, 4, name="bad")
    assert info.value.errno == errno.EINVAL
    with pytest.raises(ValueError, match="longer than 15 bytes"):
        MapHandle.create("hash", 4, 4, 4, name="x" * 16)
    with pytest.raises(ValueError, match="unknown MapType"):
        MapHandle.create("hashh", 4, 4, 4)


# -- closed -------------------------------------------------------------------------------

def test_closed_maps_raise(bpf_object_path):
    o = Object.open(bpf_object_path("core_maps"))
    o.load()
    m = o.maps["hash"]
    o.close()
    h = MapHandle.create("hash", 4, 4, 4)
    h.close()
    h.close()
    calls = [lambda mp: mp[1], lambda mp: mp.lookup(1), lambda mp: mp.update(1, 1),
             lambda mp: mp.delete(1), lambda mp: list(mp), lambda mp: len(mp),
             lambda mp: mp.lookup_batch(), lambda mp: mp.update_batch([(1, 1)]),
             lambda mp: mp.push(1), lambda mp: mp.freeze(), lambda mp: mp.info(),
             lambda mp: mp.fd, lambda mp: mp.next_key(), lambda mp: 1 in mp]
    for mp in (m, h):
        for call in calls:
            with pytest.raises(ClosedError):
                call(mp)
    assert "closed" in repr(h)
    import pickle
    with MapHandle.create("hash", 4, 4, 4) as live:
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(live)


# -- changes libbpf 1.1 would turn into memory corruption ------------------------------

def test_layout_of_libbpf_internal_maps_is_protected(bpf_object_path):
    with Object.open(bpf_object_path("core_trace")) as o:
        kconfig = o.maps["core_tr.kconfig"]
        assert kconfig.is_internal
        from libbpfpy._raw import version_tuple
        changes = [("max_entries", 300), ("key_size", 8), ("type", "hash"), ("flags", 0)]
        if version_tuple < (1, 3):  # resizing global data arrived in libbpf 1.3
            changes.append(("value_size", 64))
        for attr, value in changes:
            with pytest.raises(BPFError, match=f"the {attr} of map 'core_tr.kconfig' "
                               "cannot be changed"):
                setattr(kconfig, attr, value)
        with MapHandle.create("array", 4, 64, 1) as other:
            with pytest.raises(BPFError, match="differs from"):
                kconfig.reuse_fd(other.fd)
        with pytest.raises(BPFError, match="is not a BPF map"):
            o.maps["hits"].reuse_fd(0)
        with pytest.raises(BPFError, match="cannot change from array to struct_ops"):
            o.maps["hits"].type = MapType.STRUCT_OPS
    with Object.open(bpf_object_path("core_maps")) as o:
        with pytest.raises(BPFError, match="cannot change from hash_of_maps"):
            o.maps["outer_hash"].type = MapType.HASH
        o.maps["lru"].type = MapType.HASH  # an ordinary change is fine
