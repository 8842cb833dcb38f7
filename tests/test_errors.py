"""Errors and logging as DESIGN section 3 says: BPFError is an OSError naming the
call and the object; subclasses say why; libbpf's messages go to logging."""
from __future__ import annotations

import errno
import logging
import pickle

import pytest

from conftest import libbpf_refused_object, run_unprivileged
from libbpfpy import (
    BPFError,
    ClosedError,
    CompileError,
    MapHandle,
    NotSupportedError,
    Object,
    PermissionDeniedError,
    VerifierError,
)
from libbpfpy.errors import PRIVILEGE_HINT, error_for, strerror


def test_hierarchy():
    assert issubclass(BPFError, OSError)
    for cls in (VerifierError, NotSupportedError, PermissionDeniedError, ClosedError,
                CompileError):
        assert issubclass(cls, BPFError)
    assert issubclass(PermissionDeniedError, PermissionError)
    assert issubclass(ClosedError, ValueError)


def test_bpferror_fields_and_str():
    e = BPFError(errno.ENOENT, "bpf_thing() on map 'm' failed", call="bpf_thing",
                 target="m", hint="do this")
    assert e.errno == errno.ENOENT and e.strerror == "No such file or directory"
    assert (e.call, e.target, e.hint) == ("bpf_thing", "m", "do this")
    assert str(e) == "bpf_thing() on map 'm' failed (do this)"
    assert BPFError(-5, "negative errno is normalised").errno == 5


def test_error_for_picks_the_subclass():
    assert type(error_for(errno.EPERM, "x")) is PermissionDeniedError
    assert type(error_for(errno.EACCES, "x")) is PermissionDeniedError
    assert type(error_for(errno.EOPNOTSUPP, "x")) is NotSupportedError
    assert type(error_for(524, "x")) is NotSupportedError  # the kernel's ENOTSUPP
    assert type(error_for(4010, "x")) is NotSupportedError  # LIBBPF_ERRNO__PROGTYPE
    assert type(error_for(errno.EINVAL, "x")) is BPFError


def test_libbpf_error_codes_have_words():
    assert strerror(4001) == "BPF object format invalid"
    assert strerror(-4007) == "kernel verifier blocks program loading"
    assert strerror(errno.EBADF) == "Bad file descriptor"
    assert BPFError(4003, "m").strerror == "endian mismatch between object and host"


def test_errors_pickle():
    for e in (BPFError(2, "m", call="c", target="t", hint="h"),
              NotSupportedError("ns", feature="f", requires="libbpf >= 9"),
              ClosedError("map 'x'"),
              VerifierError(13, "rejected", log="a\nb\nreason", program="p"),
              PermissionDeniedError(1, "perm")):
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is type(e) and str(back) == str(e) and back.errno == e.errno
        assert back.__dict__ == e.__dict__


def test_not_supported_fields():
    e = NotSupportedError("needs libbpf >= 1.3", feature="ring__consume",
                          requires="libbpf >= 1.3")
    assert e.errno == errno.EOPNOTSUPP and e.feature == "ring__consume"
    assert e.requires == "libbpf >= 1.3"


def test_closed_error():
    e = ClosedError("map 'x'")
    assert e.errno == errno.EBADF and str(e) == "map 'x' is closed"


def test_verifier_error_str_is_the_tail():
    log = "\n".join(f"{i}: insn" for i in range(40)) + "\nR0 invalid mem access\n" \
        "processed 40 insns (limit 1000000)\n"
    e = VerifierError(errno.EACCES, "the verifier rejected program 'p'", log=log,
                      program="p")
    text = str(e)
    assert text.startswith("the verifier rejected program 'p'")
    assert "R0 invalid mem access" in text and "processed" not in text
    assert "    0: insn" not in text.splitlines()  # only the last lines
    assert len(text.splitlines()) == 2 + VerifierError.TAIL_LINES
    assert e.log == log


def test_compile_error_str():
    e = CompileError("clang failed", diagnostics="x.c:1: error: boom\n", returncode=1)
    assert str(e) == "clang failed\nx.c:1: error: boom" and e.returncode == 1


@pytest.mark.root
def test_messages_name_the_call_and_the_object(bpf_object_path):
    with Object.open(bpf_object_path("core_maps")) as obj:
        obj.load()
        with pytest.raises(BPFError) as info:
            obj.maps["hash"].update(1, 1, 4)  # F_LOCK on a map without a lock
        msg = str(info.value)
        assert "bpf_map_update_elem()" in msg and "'hash'" in msg
        assert info.value.call == "bpf_map_update_elem" and info.value.target == "hash"
        with pytest.raises(BPFError) as info:
            obj.programs["write_maps"].pin("/sys/fs/bpf/no/such/dir/x")
        assert "bpf_program__pin()" in str(info.value)
        assert "program 'write_maps'" in str(info.value)


@pytest.mark.root
def test_root_gets_no_privilege_hint(bpf_object_path):
    # A refusal despite full privileges (here: a frozen map) must not tell root to
    # become root.
    with MapHandle.create("array", 4, 4, 1) as m:
        m.freeze()
        with pytest.raises(BPFError) as info:
            m[0] = 1
        assert PRIVILEGE_HINT not in str(info.value)


def test_eperm_without_privileges_is_permission_denied_with_the_hint():
    res = run_unprivileged(
        "from libbpfpy import MapHandle, PermissionDeniedError, probe\n"
        "try:\n"
        "    MapHandle.create('hash', 4, 4, 8)\n"
        "except PermissionDeniedError as exc:\n"
        "    print(type(exc).__name__, exc.errno, isinstance(exc, PermissionError))\n"
        "    print(exc)\n")
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.splitlines()[:2]
    assert first == "PermissionDeniedError 1 True"
    assert "bpf_map_create()" in second
    assert "run as root or grant CAP_BPF and CAP_PERFMON" in second


def test_libbpf_log_levels(caplog, bpf_object_path):
    caplog.set_level(logging.DEBUG, logger="libbpfpy.libbpf")
    with Object.open(bpf_object_path("core_maps")):
        pass
    debug = [r for r in caplog.records if r.name == "libbpfpy.libbpf"
             and r.levelno == logging.DEBUG]
    assert any("core_maps" in r.getMessage() for r in debug)  # libbpf's pr_debug
    caplog.clear()
    with pytest.raises(BPFError):
        Object.open(libbpf_refused_object(bpf_object_path), name="warned")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all(r.getMessage().startswith("libbpf: ") for r in warnings)


def test_logging_can_be_silenced(capfd, caplog):
    logger = logging.getLogger("libbpfpy.libbpf")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with pytest.raises(BPFError):
            Object.open(b"junk", name="silenced")
    finally:
        logger.setLevel(old)
    assert "silenced" not in capfd.readouterr().err
    assert not [r for r in caplog.records if "silenced" in r.getMessage()]
