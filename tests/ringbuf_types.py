"""ctypes mirrors of the structs in tests/bpf/ringbuf.bpf.c, shared by its tests."""
from __future__ import annotations

import ctypes


class Args(ctypes.Structure):
    """struct args of tests/bpf/ringbuf.bpf.c."""

    _fields_ = [("ring", ctypes.c_uint32), ("count", ctypes.c_uint32),
                ("size", ctypes.c_uint32), ("size_step", ctypes.c_int32),
                ("discard_every", ctypes.c_uint32), ("seq", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("produced", ctypes.c_uint32),
                ("failed", ctypes.c_uint32), ("discarded", ctypes.c_uint32)]


class Event(ctypes.Structure):
    """struct event of tests/bpf/ringbuf.bpf.c (records of >= 24 bytes start with it)."""

    _fields_ = [("seq", ctypes.c_uint32), ("size", ctypes.c_uint32),
                ("value", ctypes.c_uint64), ("tag", ctypes.c_char * 8)]
