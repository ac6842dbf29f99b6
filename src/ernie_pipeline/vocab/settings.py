"""Stage 2's settings (config ``vocab``), one frozen object built once from the validated section and passed
whole to the vocabulary's jobs (each rule's params still list only the keys its output depends on)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ernie_pipeline.settings import from_section


@dataclass(frozen=True)
class VocabSettings:
    english_text: str  # English text for the BPE
    eng_vocab_size: int  # BPE pieces (upstream 17000)
    eng_max_sentences: int  # lines of english_text the BPE reads (0: all)
    char_count_fraction: float  # share of each shard's documents whose characters are counted
    heldout_fraction: float  # documents held out from counting, for the coverage report
    seed: int  # draws both, per (seed, dataset, shard, document)
    min_char_count: int  # the count a non-CJK character needs to enter vocab.txt (upstream 200)
    include_kana_hangul: bool  # every kana and Hangul Jamo with its ## twin, seen or not
    fullwidth_twins: bool  # ## twins for half-width Katakana and full-width digits and letters too
    scheme: int  # 1: character counts + English BPE (the seed's); 2: sentencepiece over the BasicTokenizer text
    compare_schemes: bool  # build and report the other scheme too
    scheme2_vocab_size: int
    scheme2_model_type: str  # bpe | unigram
    scheme2_sample_mb: float  # scheme 2 trains on a seeded sample of about this much segmented text (0: all)

    @classmethod
    def from_config(cls, section: Mapping) -> VocabSettings:
        return from_section(cls, section, "vocab")
