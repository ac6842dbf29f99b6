"""The clean stage's normalisation: the compiled fast path gives unicodedata's text, on the sample and on the
characters where NFKC depends on neighbours."""

import random

import pytest

from ernie_pipeline.clean.normalise import _normaliser, normalise, normalised_lines, reference_lines


def test_normalisation_folds_width_forms_and_drops_every_whitespace():
    assert normalise("ＡＢＣ　１２３，\t好 的\u00a0!\r\n") == "ABC123,好的!"
    assert normalised_lines("第一 句 。\n\n 第二\u3000句\n") == ["第一句。", "第二句"]
    assert normalise("ﬁ①㎏") == "fi1kg"  # ligature, circled digit, squared unit
    assert normalise("Ｅ\u0301") == "É"  # a full-width letter composes with the combining mark after it


def test_the_fast_path_equals_unicodedata_on_the_sample(inews_docs):
    texts = [d["content"] for d in inews_docs[:1500]]
    assert [normalised_lines(t) for t in texts] == [reference_lines(t) for t in texts]
    assert sum(_normaliser().lines(t) is None for t in texts) < 50  # most documents take the fast path


@pytest.mark.parametrize("seed", range(3))
def test_the_fast_path_equals_unicodedata_where_neighbours_matter(seed):
    """Combining marks, Hangul jamo and syllables, compatibility forms, width forms, CJK compatibility
    ideographs, whitespace and line breaks, mixed at random."""
    pool = [chr(c) for block in ((0x20, 0x250), (0x300, 0x370), (0x1100, 0x1200), (0xAC00, 0xAC40), (0x3000, 0x3100),
                                  (0xFF00, 0xFFF0), (0x2000, 0x2100), (0xF900, 0xFA40), (0x0900, 0x0980))
            for c in range(*block)] + ["\n", " ", "\t", "\u3000", "\u00a0", "中", "文"]
    rng = random.Random(seed)
    for _ in range(5000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 24)))
        assert normalised_lines(text) == reference_lines(text), repr(text)
