"""BPF tokens for real: a child process in a new user namespace gets a bpffs the
test (root in the initial namespace) delegates to it, makes a token from it, and with
it -- only with it -- creates maps and loads and runs a program."""
from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import skip_unless
from libbpfpy import NotSupportedError, probe, token
from libbpfpy import _raw as raw

pytestmark = pytest.mark.root

ROOT = Path(__file__).resolve().parents[1]
UDP_PORT = 4794

# Runs in the child: unshare, hand the test a bpffs context, get the delegated mount
# back, then try BPF without and with the token.  Prints one JSON line.
CHILD = r"""
import ctypes, json, os, socket, sys
from libbpfpy import MapHandle, MapType, Object, token, BPFError
from libbpfpy import _raw as raw
sock = socket.socket(fileno=int(sys.argv[1]))
mount_dir, obj_path, packet_hex = sys.argv[2], sys.argv[3], sys.argv[4]
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x00020000):  # CLONE_NEWUSER | CLONE_NEWNS
    raise OSError(ctypes.get_errno(), "unshare")
sock.sendall(b"U")
assert sock.recv(1) == b"M"                    # the test wrote our uid/gid maps
socket.send_fds(sock, [b"F"], [token.open_bpffs()])
_, fds, _, _ = socket.recv_fds(sock, 1, 1)
mnt_fd = fds[0]
out = {"uid": os.getuid()}
try:
    MapHandle.create(MapType.ARRAY, 4, 8, 4).close()
    out["without_token"] = "created"
except BPFError as exc:
    out["without_token"] = exc.errno
with token.create(mnt_fd) as tok:
    with MapHandle.create(MapType.ARRAY, 4, 8, 4, name="tokmap", token=tok) as m:
        m[2] = 77
        out["map_value"] = m[2]
token.attach_mount(mnt_fd, mount_dir)
with Object.open(obj_path, token_path=mount_dir) as obj:
    for name, prog in obj.programs.items():
        prog.autoload = name == "xdp_count"
    obj.load()
    # (Object.token_fd needs libbpf >= 1.5; tokens themselves 1.4)
    out["object_token"] = obj.token_fd is not None if raw.is_available(
        "bpf_object__token_fd") else None
    obj.maps["port_cfg"][0] = int(sys.argv[5])
    res = obj.programs["xdp_count"].test_run(bytes.fromhex(packet_hex), repeat=3)
    out["xdp_retval"] = res.retval
    out["xdp_count"] = obj.maps["pkts"][0]
print(json.dumps(out))
"""


def _udp_packet(port: int) -> bytes:
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    udp = struct.pack("!HHHH", 1234, port, 8 + 4, 0) + b"ping"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return eth + ip + udp


def test_token_delegates_map_and_program_creation_to_a_user_namespace(
        bpf_object_path, tmp_path):
    if not raw.is_available("bpf_token_create"):
        with pytest.raises(NotSupportedError, match=r"bpf_token_create\(\) needs libbpf "
                           rf">= 1\.4, this is {raw.version} "):
            token.create("/sys/fs/bpf")
        return
    skip_unless(probe.token())
    skip_unless(probe.user_namespaces())
    mount_dir = tmp_path / "bpffs"
    mount_dir.mkdir()
    os.chmod(tmp_path, 0o755)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    with ours:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(theirs.fileno()), str(mount_dir),
             bpf_object_path("core_net"), _udp_packet(UDP_PORT).hex(), str(UDP_PORT)],
            pass_fds=[theirs.fileno()], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        theirs.close()
        try:
            ours.settimeout(30)
            if ours.recv(1) != b"U":
                _, err = child.communicate(timeout=30)
                pytest.fail(f"the child stopped before its user namespace was made: {err}")
            for name, mapping in (("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
                with open(f"/proc/{child.pid}/{name}", "w") as f:
                    f.write(mapping)
            ours.sendall(b"M")
            _, fds, _, _ = socket.recv_fds(ours, 1, 1)
            fs_fd = fds[0]
            try:
                mnt_fd = token.delegate(fs_fd, cmds="any", maps="any", progs="any",
                                        attachs="any")
            finally:
                os.close(fs_fd)
            try:
                socket.send_fds(ours, [b"M"], [mnt_fd])
            finally:
                os.close(mnt_fd)
            out, err = child.communicate(timeout=60)
        except BaseException:
            child.kill()
            child.communicate()
            raise
    assert child.returncode == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["uid"] == 0                       # root of its own namespace only ...
    assert result["without_token"] == 1             # ... so EPERM without a token
    assert result["map_value"] == 77                # the token's map works
    assert result["xdp_retval"] == 2                # XDP_PASS from the loaded program
    assert result["xdp_count"] == 3                 # which counted the 3 runs
    assert result["object_token"] is (True if raw.version_tuple >= (1, 5) else None)
    assert not any(f.startswith("anon_inode:bpf-token") for f in _fd_targets())


def _fd_targets() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return out


def test_token_errors_say_why(tmp_path):
    if not raw.is_available("bpf_token_create"):
        with pytest.raises(NotSupportedError, match="needs libbpf >= 1.4"):
            token.create(tmp_path)
        return
    skip_unless(probe.token())
    # The initial user namespace gets no tokens: privileges are checked directly.
    with pytest.raises(NotSupportedError, match="user namespaces other than the initial"):
        token.create("/sys/fs/bpf")
    with pytest.raises(Exception, match="not the root of a BPF filesystem"):
        token.create(tmp_path)
    with pytest.raises(Exception, match="cannot open bpffs"):
        token.create(tmp_path / "missing")
