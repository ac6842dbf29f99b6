"""Guard against the zlib symbol clash in Paddle 2.6.

``paddle/base/libpaddle.so`` exports its own, older copy of the zlib symbols (``inflateReset2`` ...)
and Paddle loads it with ``RTLD_GLOBAL``. Any C extension loaded afterwards that needs zlib then
binds to Paddle's copy and crashes or raises ``zlib.error: ... inconsistent stream state``. Loading
the system ``libz`` globally *before* Paddle puts it first in the global symbol scope, which is
what ``LD_PRELOAD=libz.so.1`` does, but from inside the process, so it works for every entry point
that imports :mod:`ernie_pipeline` before ``paddle``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import warnings

_handle: ctypes.CDLL | None = None


def preload_system_zlib() -> ctypes.CDLL:
    """Load the system zlib with RTLD_GLOBAL (idempotent); warn if Paddle was imported first."""
    global _handle
    if _handle is None:
        if "paddle" in sys.modules:
            warnings.warn(
                "paddle was imported before ernie_pipeline: the system zlib cannot take precedence "
                "over libpaddle's copy any more; import ernie_pipeline first",
                RuntimeWarning,
                stacklevel=2,
            )
        name = ctypes.util.find_library("z") or "libz.so.1"
        _handle = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    return _handle
