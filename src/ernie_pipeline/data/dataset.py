"""The ERNIE pretraining dataset: a sample map row → a masked sample (see :mod:`masking`)."""

from __future__ import annotations

import numpy as np

from ernie_pipeline.data.token_files import IdsDataset
from ernie_pipeline.data.masking import Vocab, build_sample


class ErnieDataset:
    """Random-access samples of one split; sample ``i`` depends only on (data, map, seed, i)."""

    def __init__(self, data: IdsDataset, index_map: np.ndarray, vocab: Vocab, max_seq_len: int, seed: int,
                 binary_head: bool = True, masked_lm_prob: float = 0.15, max_ngrams: int = 3,
                 favor_longer_ngram: bool = False, geometric_dist: bool = False):
        self.data = data
        self.index_map = index_map
        self.vocab = vocab
        self.max_seq_len = max_seq_len
        self.seed = seed
        self.binary_head = binary_head
        self.masked_lm_prob = masked_lm_prob
        self.max_ngrams = max_ngrams
        self.favor_longer_ngram = favor_longer_ngram
        self.geometric_dist = geometric_dist

    def __len__(self) -> int:
        return len(self.index_map)

    def __getitem__(self, idx: int) -> dict:
        start, end, target_len = (int(x) for x in self.index_map[idx])
        sentences = [np.asarray(sentence) for sentence in self.data.sentences(start, end)]
        rng = np.random.RandomState((self.seed + idx) % 2**32)
        return build_sample(sentences, target_len, self.max_seq_len, self.vocab, rng, self.binary_head,
                            self.masked_lm_prob, self.max_ngrams, self.favor_longer_ngram, self.geometric_dist)
