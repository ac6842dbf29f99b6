"""Deduplication's detection quality on real Chinese text (the sample) with planted copies at known Jaccard
similarity, with the default settings, against brute-force Jaccard of the same shingles: recall >= 0.95 over
pairs at Jaccard >= 0.8, false positives <= 1 % over pairs at Jaccard <= 0.5, no unrelated document removed."""

import numpy as np
import pytest

from ernie_pipeline.clean.detection import plant, removed_as_copies
from ernie_pipeline.clean.settings import CleanSettings
from ernie_pipeline.settings import schema_defaults

LEVELS = [0.95, 0.9, 0.85, 0.8, 0.6, 0.5, 0.45, 0.4, 0.3]


@pytest.mark.slow
def test_planted_copies_are_found_above_jaccard_0_8_and_left_below_0_5(inews_docs, tmp_path):
    clean = CleanSettings.from_config(schema_defaults("clean"))
    assert (clean.shingle_chars, clean.bands, clean.rows) == (5, 14, 8)
    texts = [d["content"] for d in inews_docs if len(d["content"]) >= 300][:1500]
    copies, _ = removed_as_copies(texts, clean, tmp_path / "originals")
    originals = [t for t, copy in zip(texts, copies) if not copy]  # the sample's own duplicates out first
    corpus, planted = plant(originals, LEVELS, per_level=30, k=clean.shingle_chars, seed=7)
    removed, stats = removed_as_copies(corpus, clean, tmp_path / "planted")
    assert not removed[: len(originals)].any()  # no original goes: a copy never outranks the smaller id
    found = {p.copy: bool(removed[p.copy]) for p in planted}
    above = [found[p.copy] for p in planted if p.jaccard >= 0.8]
    below = [found[p.copy] for p in planted if p.jaccard <= 0.5]
    assert len(above) >= 6 * 30 and len(below) >= 3 * 30
    assert np.mean(above) >= 0.95, stats
    assert np.mean(below) <= 0.01, stats
    exact = [found[p.copy] for p in planted if p.level in ("exact", "reformatted")]
    assert all(exact)  # whitespace and width forms changed: still the same normalised text
    assert stats["removed"]["exact"] == 60  # both kinds are exact copies after normalisation
