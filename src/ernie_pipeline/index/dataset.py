"""The ERNIE pretraining dataset: a sample map row → a masked sample (see :mod:`masking`)."""

from __future__ import annotations

import numpy as np

from ernie_pipeline.tokenize.token_files import IdsDataset
from ernie_pipeline.index.masking import MaskingSettings, Vocab, build_sample


class ErnieDataset:
    """Random-access samples of one split; sample ``i`` depends only on (data, map, seed, i)."""

    def __init__(self, data: IdsDataset, index_map: np.ndarray, vocab: Vocab, settings: MaskingSettings, seed: int):
        self.data = data
        self.index_map = index_map
        self.vocab = vocab
        self.settings = settings
        self.seed = seed

    def __len__(self) -> int:
        return len(self.index_map)

    def __getitem__(self, idx: int) -> dict:
        start, end, target_len = (int(x) for x in self.index_map[idx])
        sentences = [np.asarray(sentence) for sentence in self.data.sentences(start, end)]
        rng = np.random.RandomState((self.seed + idx) % 2**32)
        return build_sample(sentences, target_len, self.vocab, rng, self.settings)
