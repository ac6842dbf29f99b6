"""The Paddle-free LAC segmenter: :class:`~ernie_pipeline.segment.bigru_crf.FastSegModel` over
length-sorted batches, near-ties handed to LAC itself, LAC's user dictionary applied as LAC does."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ernie_pipeline.segment.bigru_crf import FastSegModel
from ernie_pipeline.segment.lac_paddle import LacSegmenter, load_customization

TAGS = ("B", "I", "E", "S")  # LAC seg_model/conf/tag.dic, ids 0..3
_WORD_STARTS = np.array([True, False, False, True])  # a word starts at B and S (LAC's parse_result)


class FastSegmenter:
    """Drop-in for ``LAC(mode='seg').run`` on lists of sentences (with LAC's user dictionary
    ``custom_dict`` applied the way LAC does): the NumPy model over batches of similar-length
    sentences of about ``batch_chars`` characters; sentences whose Viterbi margin is below
    ``min_margin`` go to ``reference`` (default: LAC itself, loaded when first needed)."""

    # Sentences per call that segment_documents gathers across documents: long, length-sorted runs
    # keep the batches full.
    sentences_per_call = 16384

    # Characters per batch: the C++ engine cuts a batch into cache-sized blocks itself (bigru_crf.BLOCK_CHARS), so
    # here bigger means fewer calls; the NumPy fallback's step products get more rows.
    def __init__(self, custom_dict: str | None = None, batch_chars: int = 65536, min_margin: float = 1e-3,
                 reference: Callable[[list[str]], list[list[str]]] | None = None, model: FastSegModel | None = None,
                 lac_batch_size: int = 32):
        self.model = model or FastSegModel()
        self.batch_chars = batch_chars
        self.min_margin = min_margin
        self.custom_dict = custom_dict
        self.custom = None
        if custom_dict:
            self.custom = load_customization(custom_dict)
        self._reference = reference
        self.lac_batch_size = lac_batch_size
        self.rechecked = 0  # sentences handed to the reference (for stats and benchmarks)

    @property
    def reference(self) -> Callable[[list[str]], list[list[str]]]:
        if self._reference is None:
            self._reference = LacSegmenter("seg", self.lac_batch_size, self.custom_dict)
        return self._reference

    def __call__(self, sentences: list[str]) -> list[list[str]]:
        words: list[list[str] | None] = [[] if not s else None for s in sentences]
        encoded = {i: self.model.encode(s) for i, s in enumerate(sentences) if s}
        order = sorted(encoded, key=lambda i: -len(encoded[i]))
        recheck = []
        for batch in _batches(order, [len(encoded[i]) for i in order], self.batch_chars):
            tags, margins = self.model.tags([encoded[i] for i in batch])
            for i, tag, margin in zip(batch, tags, margins):
                if margin < self.min_margin:
                    recheck.append(i)
                else:
                    words[i] = _words(sentences[i], tag, self.custom)
        if recheck:
            self.rechecked += len(recheck)
            recheck.sort()
            for i, w in zip(recheck, self.reference([sentences[i] for i in recheck])):
                words[i] = w
        return words  # type: ignore[return-value]


def _batches(order: list[int], lengths: list[int], batch_chars: int) -> list[list[int]]:
    """Consecutive runs of the length-sorted ``order`` of at most ``batch_chars`` characters (at least
    one sentence each), so each batch holds sentences of similar length."""
    batches, current, total = [], [], 0
    for index, length in zip(order, lengths):
        if current and total + length > batch_chars:
            batches.append(current)
            current, total = [], 0
        current.append(index)
        total += length
    if current:
        batches.append(current)
    return batches


def _words(sentence: str, tags: np.ndarray, custom=None) -> list[str]:
    """Words of a sentence from its tags: a word starts at each B or S (LAC's ``parse_result``),
    after LAC's user dictionary has rewritten the tags, if there is one."""
    if custom is None:
        starts = np.flatnonzero(_WORD_STARTS[tags]).tolist()
    else:
        names = ["-" + TAGS[t] for t in tags]
        custom.parse_customization(sentence, names)
        starts = [i for i, name in enumerate(names) if name.endswith(("B", "S"))]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = starts + [len(sentence)]
    return [sentence[a:b] for a, b in zip(bounds, bounds[1:])]
