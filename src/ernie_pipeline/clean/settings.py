"""The clean stage's settings (config ``clean``), one frozen object passed whole to its jobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ernie_pipeline.settings import from_section

# Why a document is removed, in order of precedence (a document is counted once, under the first that applies).
# Contamination and the per-document filters come before deduplication (a removed document keeps no copy), the
# corpus-wide boilerplate filter after it.
REASONS = ("contamination", "min_chars", "cjk_share", "repeated_lines", "top_ngram", "repeated_ngrams", "exact",
           "near", "boilerplate")
REASON_CODE = {reason: code for code, reason in enumerate(REASONS, start=1)}  # 0: kept
QUALITY_REASONS = REASONS[1:6]


@dataclass(frozen=True)
class CleanSettings:
    scope: str  # dataset: duplicates within each dataset | all: across every dataset (blends)
    exact: bool  # documents equal after normalisation
    near: bool  # MinHash LSH over character shingles
    shingle_chars: int
    bands: int
    rows: int
    near_threshold: float  # candidate pairs kept when their signatures agree on this share of permutations
    seed: int  # the permutations
    min_chars: int | None  # normalised characters a document needs (None: off)
    min_cjk_share: float | None  # share of CJK characters (U+4E00..U+9FA5) a document needs
    max_repeated_line_share: float | None  # characters in lines that repeat an earlier line of the document
    top_ngram_chars: int
    max_top_ngram_share: float | None  # characters the most frequent top_ngram_chars-gram covers
    repeated_ngram_chars: int
    max_repeated_ngram_share: float | None  # characters covered by repeats of repeated_ngram_chars-grams
    boilerplate_min_documents: int | None  # a line in at least this many documents is boilerplate (None: off)
    boilerplate_min_line_chars: int  # shorter lines are never boilerplate
    max_boilerplate_share: float  # characters in boilerplate lines a document may have
    decontaminate: bool  # against the dev/test text of eval.tasks and contamination_files
    contamination_ngram_chars: int
    contamination_min_share: float  # of a passage's distinct n-grams a document must share to hold it (0: one)
    contamination_max_passages: int  # n-grams of more passages are the benchmark's template: not counted
    contamination_files: tuple[str, ...]  # more text to keep out: UTF-8, every non-empty line a passage
    partition_mb: int  # the grouping jobs' memory: keys are hashed to disk partitions of about this size

    def __post_init__(self):
        object.__setattr__(self, "contamination_files", tuple(self.contamination_files))

    @classmethod
    def from_config(cls, section: Mapping) -> CleanSettings:
        return from_section(cls, section, "clean")

    @property
    def permutations(self) -> int:
        return self.bands * self.rows

    @property
    def quality(self) -> bool:
        return any(limit is not None for limit in (self.min_chars, self.min_cjk_share, self.max_repeated_line_share,
                                                   self.max_top_ngram_share, self.max_repeated_ngram_share))

    @property
    def boilerplate(self) -> bool:
        return self.boilerplate_min_documents is not None

    @property
    def dedup(self) -> bool:
        return self.exact or self.near

    @property
    def candidate_keys(self) -> list[str]:
        """The candidate jobs' keys: ``exact`` and ``band_00`` ... (their output files' names)."""
        return (["exact"] if self.exact else []) + ([f"band_{b:02d}" for b in range(self.bands)] if self.near else [])

    def signature_params(self) -> dict:
        """What a shard's signatures depend on and nothing more: the clean_signatures jobs' params, so that a
        change reruns them (the costly pass over the text) and a later job's threshold, or a size whose filter is
        off, does not."""
        def when(limit, *used):
            return None if limit is None else [*used, limit]

        return {"exact": self.exact,
                "near": [self.shingle_chars, self.bands, self.rows, self.seed] if self.near else None,
                "min_chars": self.min_chars, "min_cjk_share": self.min_cjk_share,
                "max_repeated_line_share": self.max_repeated_line_share,
                "top_ngram": when(self.max_top_ngram_share, self.top_ngram_chars),
                "repeated_ngrams": when(self.max_repeated_ngram_share, self.repeated_ngram_chars),
                "boilerplate_lines": self.boilerplate_min_line_chars if self.boilerplate else None}

    def active(self, has_contamination_text: bool) -> bool:
        """Whether the stage removes anything at all (otherwise it does not run, and the token files are as
        without it)."""
        return self.dedup or self.quality or self.boilerplate or (self.decontaminate and has_contamination_text)

    def hash_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """The permutations' (a, b), a odd: seeded, the same on every machine."""
        draws = np.random.RandomState(self.seed).randint(0, 1 << 32, size=(2, self.permutations), dtype=np.uint64)
        return (draws[0] | 1).astype(np.uint32), draws[1].astype(np.uint32)
