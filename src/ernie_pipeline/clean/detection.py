"""How well deduplication finds near copies: copies of real documents planted at known character-level Jaccard
similarity (edits: substituted, inserted and deleted characters), found or not by the clean stage's own jobs,
against the exact Jaccard of the same shingle sets (brute force). The test suite's proof and the S-curve
benchmark (``bench/clean_detection.py``) both use it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ernie_pipeline.clean.duplicates import candidate_pairs, find_duplicates, read_duplicates
from ernie_pipeline.clean.group import Shard
from ernie_pipeline.clean.normalise import normalise
from ernie_pipeline.clean.settings import CleanSettings
from ernie_pipeline.clean.signatures import shard_signatures
from ernie_pipeline.segment.settings import JsonlSettings

WIDTH_FORMS = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}  # ASCII -> its full-width form


def shingles(text: str, k: int) -> set[str]:
    """The character k-shingles of a normalised text (a text shorter than k: itself)."""
    return {text[i : i + k] for i in range(len(text) - k + 1)} if len(text) >= k else ({text} if text else set())


def jaccard(a: str, b: str, k: int) -> float:
    """Exact Jaccard similarity of two texts' shingle sets, after normalisation."""
    x, y = shingles(normalise(a), k), shingles(normalise(b), k)
    return len(x & y) / len(x | y) if x | y else 1.0


def _edited(chars: list[str], edits: list[tuple[str, float, str]]) -> str:
    out = list(chars)
    for kind, where, char in edits:
        at = min(int(where * len(out)), len(out) - 1)
        if kind == "substitute":
            out[at] = char
        elif kind == "insert":
            out.insert(at, char)
        elif len(out) > 1:
            del out[at]
    return "".join(out)


def near_copy(text: str, target: float, k: int, rng: random.Random, alphabet: str) -> tuple[str, float]:
    """A copy of ``text`` edited until its Jaccard similarity to it is as low as possible while still at least
    ``target`` (random substitutions, insertions and deletions of characters from ``alphabet``); with that
    similarity."""
    chars = list(normalise(text))
    edits = [(rng.choice(("substitute", "insert", "delete")), rng.random(), rng.choice(alphabet))
             for _ in range(len(chars))]
    low, high = 0, len(edits)  # the most edits whose copy stays at or above target: a binary search
    while low < high:
        middle = (low + high + 1) // 2
        if jaccard(text, _edited(chars, edits[:middle]), k) >= target:
            low = middle
        else:
            high = middle - 1
    copy = _edited(chars, edits[:low])
    return copy, jaccard(text, copy, k)


def reformatted_copy(text: str, rng: random.Random) -> str:
    """The same text with other whitespace and width forms: full-width ASCII, ideographic spaces, line breaks."""
    out = []
    for char in text:
        out.append(WIDTH_FORMS.get(char, char))
        if rng.random() < 0.05:
            out.append(rng.choice(("\u3000", " ", "\n", "\t")))
    return "".join(out)


@dataclass(frozen=True)
class Planted:
    original: int  # index into the corpus
    copy: int
    level: str  # the target similarity ("exact", "reformatted" or a number as text)
    jaccard: float  # measured by brute force


def plant(texts: list[str], levels: list[float], per_level: int, k: int, seed: int) -> tuple[list[str], list[Planted]]:
    """``texts`` followed by planted copies: per level, ``per_level`` distinct originals each get one copy (so no
    two copies share an original); plus exact copies and reformatted copies. Returns the corpus and the pairs."""
    rng = random.Random(seed)
    alphabet = "".join(sorted(set("".join(texts[:200]))))
    originals = rng.sample(range(len(texts)), per_level * (len(levels) + 2))
    corpus, planted = list(texts), []
    for n, level in enumerate(["exact", "reformatted", *levels]):
        for original in originals[n * per_level : (n + 1) * per_level]:
            if level == "exact":
                copy = texts[original]
            elif level == "reformatted":
                copy = reformatted_copy(texts[original], rng)
            else:
                copy = near_copy(texts[original], level, k, rng, alphabet)[0]
            planted.append(Planted(original, len(corpus), str(level), jaccard(texts[original], copy, k)))
            corpus.append(copy)
    return corpus, planted


def removed_as_copies(texts: list[str], clean: CleanSettings, workdir: str | Path) -> tuple[np.ndarray, dict]:
    """Which of ``texts`` the clean stage's own jobs remove as copies of an earlier text (``texts`` as one shard;
    duplicates only, the other rules left out), with the duplicates job's statistics."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shard_path = workdir / "shard.jsonl"
    shard_path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    files = {kind: workdir / f"shard.{kind}.{ext}" for kind, ext in (("docs", "npz"), ("minhash", "npy"),
                                                                    ("bands", "npy"))}
    shard_signatures(shard_path, files, clean, JsonlSettings("text", 0, False, 0))
    shard = Shard("corpus", "shard", 0, 0, files["docs"], files["minhash"], files["bands"])
    pair_files = {key: workdir / f"{key}.npy" for key in clean.candidate_keys}
    for key, path in pair_files.items():
        candidate_pairs(key, [shard], path, clean.partition_mb)
    stats = find_duplicates(pair_files, [shard], clean, workdir / "duplicates.npz")
    removed = np.zeros(len(texts), bool)
    removed[(read_duplicates(workdir / "duplicates.npz")[0] & np.uint64(0xFFFFFFFF)).astype(np.int64)] = True
    return removed, stats
