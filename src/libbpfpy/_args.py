"""Checks of the numbers callers pass down to C.

ctypes converts a Python int to a C integer by silently dropping the high bits
(``flags=2**64`` becomes 0, ``repeat=2**40`` becomes 0) and a float to nothing
useful; these checks run first and say which argument is wrong:
``TypeError`` for a non-integer, ``ValueError`` below the minimum,
``OverflowError`` above what the C type holds.
"""
from __future__ import annotations

import math
import operator
from typing import Any

__all__ = ["uint", "timeout"]


def uint(value: Any, name: str, bits: int = 32, *, minimum: int = 0,
         maximum: int | None = None) -> int:
    """``value`` as an int that fits an unsigned C integer of ``bits`` bits and is at
    least ``minimum`` (and at most ``maximum``, when given)."""
    if isinstance(value, float) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    v = operator.index(value)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    limit = (1 << bits) - 1
    if maximum is not None and maximum < limit:
        if v > maximum:
            raise ValueError(f"{name} must be <= {maximum}, got {v}")
    elif v > limit:
        raise OverflowError(f"{name} must fit in {bits} bits (at most {limit}), got {v}")
    return v


def sint(value: Any, name: str, bits: int = 32) -> int:
    """``value`` as an int that fits a signed C integer of ``bits`` bits."""
    if isinstance(value, float) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    v = operator.index(value)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not low <= v <= high:
        raise OverflowError(f"{name} must fit in a signed {bits}-bit integer "
                            f"({low}..{high}), got {v}")
    return v


def timeout(value: Any, name: str = "timeout") -> float | None:
    """A timeout in seconds: None or ``math.inf`` wait forever (None is returned),
    a negative number does not wait (0.0); NaN and non-numbers are refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not "
                        f"{type(value).__name__}")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{name} must be a number of seconds or None, not NaN")
    if math.isinf(v):
        if v < 0:
            return 0.0
        return None
    return max(v, 0.0)
