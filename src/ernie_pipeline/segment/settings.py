"""Stage 1's settings: how a raw shard is read (config ``datasets.<name>``), segmented (config ``segment``), and
written as the segmented jsonl every later stage reads (config ``jsonl``), each a frozen object built once from
its validated section and passed whole."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ernie_pipeline.settings import from_section


@dataclass(frozen=True)
class DatasetSettings:
    """One raw corpus, config ``datasets.<name>``."""

    input_dir: str  # folder of raw files, searched recursively
    format: str  # wudao | clue | text | jsonl (each may end in .gz / .zst)
    input_key: str | None  # the text's field in wudao/jsonl records (None: content / text)
    on_error: str  # fail: the first bad record stops the job; skip: bad records are counted and left out

    @classmethod
    def from_config(cls, name: str, section: Mapping) -> DatasetSettings:
        return from_section(cls, section, f"datasets.{name}")


@dataclass(frozen=True)
class SegmentSettings:
    """Sentence split and word segmentation, config ``segment``."""

    segmenter: str  # seg | lac | jieba
    custom_dict: str | None  # a LAC customisation file or jieba user dictionary
    engine: str  # what runs LAC's seg model: numpy (Paddle-free) | paddle
    batch_size: int  # sentences per call of LAC's predictor
    max_document_chars: int  # a longer document is a bad record (0: no limit)
    max_sentence_chars: int  # a longer sentence is cut (0: never)
    max_invalid_utf8_share: float  # under on_error skip, a file with more records that are not UTF-8 is refused

    @classmethod
    def from_config(cls, section: Mapping) -> SegmentSettings:
        return from_section(cls, section, "segment")


@dataclass(frozen=True)
class JsonlSettings:
    """The segmented documents as the later stages take them, config ``jsonl``."""

    json_key: str  # the text's key in every segmented jsonl
    min_doc_length: int  # documents kept: longer than this many characters of segmented text
    shuffle: bool  # the corpus's one document order (corpus jsonl and token files): a seeded permutation ...
    seed: int  # ... of this seed (else shard order)

    @classmethod
    def from_config(cls, section: Mapping) -> JsonlSettings:
        return from_section(cls, section, "jsonl")
