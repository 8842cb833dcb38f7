"""Exporter label decoders, each against what the running system says."""
from __future__ import annotations

import errno
import ipaddress
import os
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("yaml", reason="the exporter extra is installed by make setup")

from conftest import cgroup2_root, skip_unless, wait_for  # noqa: E402
from libbpfpy.exporter import names  # noqa: E402
from libbpfpy.exporter.decoders import (  # noqa: E402
    DECODERS,
    DecoderError,
    build_chain,
    default_chain,
    run_chain,
)


def decode(chain, raw: bytes):
    return run_chain(build_chain([(d, {}) if isinstance(d, str) else d for d in chain]), raw)


def u(n: int, size: int = 8) -> bytes:
    return n.to_bytes(size, sys.byteorder)


def test_every_listed_decoder_exists():
    assert set(DECODERS) == {"uint", "string", "hex", "errno", "syscall", "ksym", "cgroup",
                             "inet_ip", "ifname", "static_map", "regexp"}


def test_uint():
    assert decode(["uint"], u(300, 2)) == "300"
    assert decode([("uint", {"endian": "big"})], b"\x01\x2c") == "300"
    assert decode([("uint", {"endian": "little"})], b"\x2c\x01") == "300"
    assert decode(["uint"], u(2**64 - 1)) == str(2**64 - 1)
    # after string: parses the text
    assert decode(["string", "uint"], b"0x10\0") == "16"
    # text that is no number drops the series rather than inventing a value
    assert decode(["string", "uint"], b"abc\0") is None


def test_string():
    assert decode(["string"], b"bash\0\0\0garbage") == "bash"
    assert decode(["string"], b"full-sixteen-chr") == "full-sixteen-chr"
    assert decode(["string"], b"caf\xc3\xa9\0") == "caf\u00e9"
    assert decode(["string"], b"\xff\xfe\0") == "\ufffd\ufffd"
    assert decode(["uint", "string"], u(42)) == "42"


def test_hex():
    assert decode(["hex"], b"\x00\xab\x10") == "00ab10"
    assert decode(["uint", "hex"], u(255, 4)) == "0xff"


def test_errno():
    assert decode(["errno"], u(errno.ENOENT, 4)) == "ENOENT"
    assert decode(["errno"], u(2**32 - errno.EBADF, 4)) == "EBADF"  # -EBADF in a u32
    assert decode(["errno"], u(2**64 - errno.EAGAIN)) == "EAGAIN"   # -EAGAIN in a u64
    assert decode(["uint", "errno"], u(errno.EPERM)) == "EPERM"
    assert decode(["errno"], u(0)) == "0"
    assert decode(["errno"], u(99999, 4)) == "99999"


def test_inet_ip():
    assert decode(["inet_ip"], bytes([192, 168, 1, 20])) == "192.168.1.20"
    v6 = ipaddress.IPv6Address("2001:db8::17")
    assert decode(["inet_ip"], v6.packed) == "2001:db8::17"
    mapped = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])
    assert decode(["inet_ip"], mapped) == "10.0.0.1"  # IPv4-mapped: shown as IPv4
    with pytest.raises(DecoderError, match="takes bytes, but decoder 'uint' gives int"):
        build_chain([("uint", {}), ("inet_ip", {})])


def test_ifname():
    assert decode(["ifname"], u(1, 4)) == "lo"  # loopback is index 1 in every netns
    for index, name in socket.if_nameindex():
        assert decode(["ifname"], u(index, 4)) == name
    unused = max(i for i, _ in socket.if_nameindex()) + 1000
    assert decode(["ifname"], u(unused, 4)) == str(unused)


def test_static_map():
    chain = [("static_map", {"static_map": {1: "read", "2": "write"}})]
    assert decode(chain, u(1, 4)) == "read"
    assert decode(chain, u(2, 4)) == "write"
    assert decode(chain, u(3, 4)) == "3"  # no entry and no default: the value
    chain = [("static_map", {"static_map": {1: "one"}, "default": "other"})]
    assert decode(chain, u(9, 4)) == "other"
    assert decode(["string", ("static_map", {"static_map": {"sshd": "ssh"}})],
                  b"sshd\0") == "ssh"


def test_regexp_drops_series():
    chain = ["string", ("regexp", {"regexps": ["^python", "^bash$"]})]
    assert decode(chain, b"python3\0") == "python3"
    assert decode(chain, b"bash\0") == "bash"
    assert decode(chain, b"bashful\0") is None
    assert decode(["uint", ("regexp", {"regexps": "^4"})], u(42)) == "42"


def test_default_chains():
    assert run_chain(default_chain("string", 16), b"comm\0" + bytes(11)) == "comm"
    assert run_chain(default_chain("int", 4), u(7, 4)) == "7"
    assert run_chain(default_chain("bytes", 12), bytes(range(12))) == bytes(range(12)).hex()


def test_chain_errors():
    with pytest.raises(DecoderError, match="unknown decoder 'nope'") as info:
        build_chain([("uint", {}), ("nope", {})])
    assert info.value.index == 1
    with pytest.raises(DecoderError, match="unknown option 'base'"):
        build_chain([("uint", {"base": 16})])


def test_ksym():
    addrs, syms = names._read_kallsyms()
    # a symbol with room after it: an address inside it decodes to its name
    i = next(i for i in range(len(addrs) // 2, len(addrs) - 1) if addrs[i + 1] > addrs[i] + 1)
    assert decode(["ksym"], u(addrs[i])) == syms[i]
    assert decode(["ksym"], u(addrs[i] + 1)) == syms[i]
    assert decode(["ksym"], u(1)) == "0x1"  # below every symbol: the address


@pytest.mark.root
def test_cgroup(cgroup_dir):
    root = cgroup2_root()
    assert root is not None
    cgroup_id = os.stat(cgroup_dir).st_ino  # a cgroup v2 id is its inode number
    names.reset()
    expected = "/" + os.path.relpath(cgroup_dir, root)
    assert decode(["cgroup"], u(cgroup_id)) == expected
    assert decode(["cgroup"], u(os.stat(root).st_ino)) == "/"
    # a cgroup made after the first walk is found by walking again (not too often)
    sub = os.path.join(cgroup_dir, "child")
    os.mkdir(sub)
    try:
        names._cgroups.read_at -= 10
        assert decode(["cgroup"], u(os.stat(sub).st_ino)) == expected + "/child"
    finally:
        os.rmdir(sub)


def _blocked_syscall(code: str) -> tuple[int, subprocess.Popen[str]]:
    """Start a child that blocks in a system call; return the call's number as the
    kernel reports it in /proc/PID/syscall, and the child."""
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    nr: list[int] = []

    def blocked() -> bool:
        with open(f"/proc/{child.pid}/syscall") as f:
            first = f.read().split()[0]
        if first.lstrip("-").isdigit() and int(first) >= 0:
            nr[:] = [int(first)]
            time.sleep(0.05)  # settled in it
            return True
        return False

    assert wait_for(blocked, 10)
    return nr[0], child


@pytest.mark.root
def test_syscall_names_come_from_the_kernel():
    from libbpfpy import probe
    skip_unless(probe.tracefs())
    skip_unless(probe.tracepoint("syscalls", "sys_enter_read"))  # CONFIG_FTRACE_SYSCALLS
    skip_unless(probe.iterator("task_file"))
    names.reset()
    table = names.syscall_table()
    assert len(table) > 200
    assert len(set(table.values())) == len(table)
    # A child blocked in read(): /proc says which number it is in; the decoder
    # must name it "read" -- and likewise for a sleep and a wait.
    for code, expected in (
        ("import sys; print('ready', flush=True); sys.stdin.read(1)", {"read"}),
        ("import time; print('ready', flush=True); time.sleep(30)",
         {"clock_nanosleep", "nanosleep"}),
        ("import os, sys; pid = os.fork()\n"
         "if pid == 0: sys.stdin.read(1); os._exit(0)\n"
         "print('ready', flush=True); os.waitpid(pid, 0)", {"wait4", "waitid"}),
    ):
        nr, child = _blocked_syscall(code)
        try:
            assert decode(["syscall"], u(nr, 4)) in expected
        finally:
            child.kill()
            child.communicate()
    unknown = max(table) + 1000
    assert decode(["syscall"], u(unknown, 4)) == str(unknown)
