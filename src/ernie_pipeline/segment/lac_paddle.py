"""Baidu LAC 2.1.2 on Paddle 2.6: loading it, its user dictionary, and its predictor as a segmenter.

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


class LacSegmenter:
    """LAC word segmentation in fixed-size batches.

    LAC 2.1.2's predictor on Paddle 2.6 returns wrong, run-to-run varying words for a few sentences
    when the number of sentences per call changes between calls (seen: 10 of 17,261 sentences with
    per-document batches, 0 with fixed batches, against one-sentence calls). So every call gets
    exactly ``batch_size`` sentences: the last chunk is padded with copies of its last sentence.
    """

    def __init__(self, mode: str = "seg", batch_size: int = 32, custom_dict: str | None = None):
        self.mode = mode
        self.batch_size = batch_size
        if custom_dict:  # a private instance: the customisation changes the model object
            self.lac = load_lac.__wrapped__(mode)
            self.lac.load_customization(custom_dict)
        else:
            self.lac = load_lac(mode)

    def __call__(self, sentences: list[str]) -> list[list[str]]:
        words: list[list[str]] = []
        for start in range(0, len(sentences), self.batch_size):
            chunk = list(sentences[start : start + self.batch_size])
            real = len(chunk)
            chunk += [chunk[-1]] * (self.batch_size - real)
            result = self.lac.run(chunk)[:real]
            # mode 'lac' returns (words, tags) pairs; keep the words.
            words.extend(r[0] if self.mode == "lac" else r for r in result)
        return words
