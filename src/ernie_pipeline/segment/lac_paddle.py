"""Load Baidu LAC 2.1.2 on Paddle 2.6.

LAC imports ``paddle.fluid``, which Paddle 2.6 removed; its inference models still run on Paddle
2.6's ``paddle.base`` (the old fluid core under a new name). Alias the two modules before LAC is
imported. LAC is imported lazily, so nothing pays for it unless the LAC segmenter is used.
"""

from __future__ import annotations

import functools
import sys

import ernie_pipeline  # noqa: F401  (system zlib before paddle)


def _alias_fluid() -> None:
    import paddle
    import paddle.base
    import paddle.base.core

    if "paddle.fluid" not in sys.modules:
        sys.modules["paddle.fluid"] = paddle.base
        sys.modules["paddle.fluid.core"] = paddle.base.core
        paddle.fluid = paddle.base


@functools.lru_cache(maxsize=None)
def load_lac(mode: str = "seg"):
    """A ``LAC.LAC`` instance in ``mode`` ('seg' or 'lac'), loaded once per process."""
    if mode not in ("seg", "lac"):
        raise ValueError(f"LAC mode must be 'seg' or 'lac', not {mode!r}")
    _alias_fluid()
    from LAC import LAC

    return LAC(mode=mode)


def load_customization(path: str):
    """LAC's user dictionary (``word`` or ``word/TAG`` per line, phrases split by spaces) as the
    ``Customization`` object LAC applies to its tags after decoding."""
    _alias_fluid()
    from LAC.custom import Customization

    custom = Customization()
    custom.load_customization(path)
    return custom
