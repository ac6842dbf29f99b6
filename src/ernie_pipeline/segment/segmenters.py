"""The word segmenters of ``segment.segmenter`` / ``segment.engine``, behind one call: a list of
sentences in, a list of word lists out."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ernie_pipeline.segment.lac_paddle import LacSegmenter

class JiebaSegmenter:
    """jieba's default accurate mode with HMM (upstream's ``jieba.cut``); whitespace kept as words."""

    def __init__(self, custom_dict: str | None = None):
        import jieba

        self.tokenizer = jieba.Tokenizer()
        if custom_dict:
            self.tokenizer.load_userdict(custom_dict)

    def __call__(self, sentences: list[str]) -> list[list[str]]:
        return [list(self.tokenizer.cut(s)) for s in sentences]


SEGMENTERS = ("seg", "lac", "jieba")


ENGINES = ("numpy", "paddle")


def make_segmenter(name: str, batch_size: int = 32, custom_dict: str | None = None, engine: str = "numpy"
                   ) -> Callable[[list[str]], list[list[str]]]:
    """``seg`` / ``lac``: LAC's two models; ``jieba``. ``custom_dict``: LAC's customisation file
    (``word`` or ``word/TAG`` per line) or a jieba user dictionary. ``engine`` runs LAC's ``seg``
    model: ``numpy`` (:mod:`~ernie_pipeline.segment.fast_segmenter`, the same words, several times faster) or ``paddle`` (LAC's
    own predictor, ``batch_size`` sentences per call); ``lac`` always runs on Paddle."""
    if custom_dict and not Path(custom_dict).is_file():
        raise FileNotFoundError(f"config segment.custom_dict: {custom_dict} does not exist")
    if engine not in ENGINES:
        raise ValueError(f"config segment.engine: unknown engine {engine!r} (choose from {ENGINES})")
    if name == "jieba":
        return JiebaSegmenter(custom_dict)
    if name == "seg" and engine == "numpy":
        from ernie_pipeline.segment.fast_segmenter import FastSegmenter  # loads the model's weights

        return FastSegmenter(custom_dict, lac_batch_size=batch_size)
    if name in ("seg", "lac"):
        return LacSegmenter(name, batch_size, custom_dict)
    raise ValueError(f"config segment.segmenter: unknown segmenter {name!r} (choose from {SEGMENTERS})")
