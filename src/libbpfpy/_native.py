"""The optional compiled accelerator, ``libbpfpy._accel`` (see ``_accel.c``).

Built by the package's setup.py where gcc and Python's headers are present; used for
walking ring buffers of variable-size records and for indexing and listing BTF.
Every caller has a pure-Python path giving the same results, used when the module is
missing or when ``LIBBPFPY_ACCEL=0`` is set (read once, at import).
"""
from __future__ import annotations

import os
from typing import Any

__all__ = ["load", "ACCEL"]


def load() -> Any:
    """The compiled module, or None when absent or turned off (LIBBPFPY_ACCEL=0)."""
    if os.environ.get("LIBBPFPY_ACCEL", "1") == "0":
        return None
    try:
        from . import _accel
    except ImportError:
        return None
    return _accel


#: the compiled module in use, or None for the pure-Python code
ACCEL: Any = load()
