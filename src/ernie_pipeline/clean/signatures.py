"""One segmented shard -> what the clean stage knows of each of its documents (the ``clean_signatures`` job).

A shard's documents are those the token files take (longer than ``jsonl.min_doc_length``), numbered from 0 in
file order: the *rows* every later clean file and the merges use. For each row:

``<shard>.docs.npz``
    ``chars`` (normalised characters), ``exact`` (BLAKE2b-128 of the normalised UTF-8 text, as two uint64; with
    ``clean.exact``), ``quality`` (0, or the code of the first per-document filter it fails: ``REASON_CODE``),
    and with the boilerplate filter the distinct lines of at least ``boilerplate_min_line_chars`` characters:
    ``line_rows``, ``line_hashes``, ``line_chars``.
``<shard>.minhash.npy``
    the MinHash signature, uint32 [rows, bands x rows] (with ``clean.near``; else [rows, 0]).
``<shard>.bands.npy``
    each band's LSH key, uint64 [bands, rows] (band-major: a band's job reads one contiguous slice).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ernie_pipeline.clean import _signatures
from ernie_pipeline.clean.normalise import normalised_lines
from ernie_pipeline.clean.settings import REASON_CODE, CleanSettings
from ernie_pipeline.corpus.readers import jsonl_text
from ernie_pipeline.io.atomic import atomic_outputs
from ernie_pipeline.segment.corpus_jsonl import keeps_document
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.vocab.constants import CJK_FIRST, CJK_LAST

BATCH_DOCS = 1024  # documents handed to the compiled kernel at once


def kept_documents(path: str | Path, jsonl: JsonlSettings):
    """The texts of a segmented shard's documents that the token files take (their rows, in order)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = jsonl_text(raw, jsonl.json_key, path, number)
            if keeps_document(text, jsonl.min_doc_length):
                yield text


@dataclass
class _Columns:
    """The shard's per-row arrays, gathered batch by batch."""

    chars: list = field(default_factory=list)
    exact: list = field(default_factory=list)
    quality: list = field(default_factory=list)
    minhash: list = field(default_factory=list)
    bands: list = field(default_factory=list)
    line_rows: list = field(default_factory=list)
    line_hashes: list = field(default_factory=list)
    line_chars: list = field(default_factory=list)

    def joined(self, name: str, dtype, width: int | None = None) -> np.ndarray:
        parts = getattr(self, name)
        if parts:
            return np.concatenate(parts).astype(dtype, copy=False)
        return np.zeros((0, width) if width is not None else 0, dtype)


def repeated_line_share(lines: list[str], chars: int) -> float:
    """Share of a document's characters in lines that repeat an earlier line (Gopher's dup_line_char_frac)."""
    seen: set[str] = set()
    repeated = 0
    for line in lines:
        if line in seen:
            repeated += len(line)
        else:
            seen.add(line)
    return repeated / chars if chars else 0.0


def quality_codes(clean: CleanSettings, chars: np.ndarray, cjk: np.ndarray, repeated_lines: np.ndarray,
                  top: np.ndarray, repeated: np.ndarray) -> np.ndarray:
    """Each document's first failing per-document filter (``REASON_CODE``), 0 where it passes them all."""
    failing = [
        ("min_chars", clean.min_chars, lambda limit: chars < limit),
        ("cjk_share", clean.min_cjk_share, lambda limit: cjk < limit * chars),
        ("repeated_lines", clean.max_repeated_line_share, lambda limit: repeated_lines > limit),
        ("top_ngram", clean.max_top_ngram_share, lambda limit: top > limit),
        ("repeated_ngrams", clean.max_repeated_ngram_share, lambda limit: repeated > limit),
    ]
    codes = np.zeros(len(chars), np.uint8)
    for reason, limit, fails in reversed(failing):  # the first filter in the list wins
        if limit is not None:
            codes[fails(limit)] = REASON_CODE[reason]
    return codes


def _add_batch(columns: _Columns, documents: list[list[str]], first_row: int, clean: CleanSettings,
               permutations: tuple[np.ndarray, np.ndarray]) -> None:
    texts = ["".join(lines) for lines in documents]
    chars = np.fromiter(map(len, texts), np.int64, len(texts))
    columns.chars.append(chars)
    if clean.exact:
        digests = b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts)
        columns.exact.append(np.frombuffer(digests, "<u8").reshape(-1, 2))
    if clean.near:
        signatures, keys = _signatures.minhash(texts, clean.shingle_chars, *permutations, clean.bands)
        columns.minhash.append(signatures)
        columns.bands.append(keys)
    if clean.quality:
        cjk, top, repeated = _signatures.repetition(
            texts, CJK_FIRST, CJK_LAST, clean.top_ngram_chars if clean.max_top_ngram_share is not None else 0,
            clean.repeated_ngram_chars if clean.max_repeated_ngram_share is not None else 0)
        lines_share = (np.array([repeated_line_share(lines, n) for lines, n in zip(documents, chars.tolist())])
                       if clean.max_repeated_line_share is not None else np.zeros(len(texts)))
        columns.quality.append(quality_codes(clean, chars, cjk, lines_share, top, repeated))
    if clean.boilerplate:
        rows, lines = [], []
        for row, doc_lines in enumerate(documents, start=first_row):
            distinct = sorted({line for line in doc_lines if len(line) >= clean.boilerplate_min_line_chars})
            rows += [row] * len(distinct)
            lines += distinct
        columns.line_rows.append(np.array(rows, np.uint32))
        columns.line_hashes.append(_signatures.text_hashes(lines))
        columns.line_chars.append(np.fromiter(map(len, lines), np.uint32, len(lines)))


def shard_signatures(jsonl_path: str | Path, outputs: dict[str, str | Path], clean: CleanSettings,
                     jsonl: JsonlSettings) -> dict:
    """Write a segmented shard's ``docs``, ``minhash`` and ``bands`` files (``outputs``: kind -> path; see the
    module's docstring); return its counts."""
    permutations = clean.hash_parameters()
    columns = _Columns()
    batch: list[list[str]] = []
    rows = 0
    input_bytes = Path(jsonl_path).stat().st_size
    for text in tqdm(kept_documents(jsonl_path, jsonl), desc=f"signatures {Path(jsonl_path).name}", unit="doc",
                     mininterval=10):
        batch.append(normalised_lines(text))
        if len(batch) == BATCH_DOCS:
            _add_batch(columns, batch, rows, clean, permutations)
            rows += len(batch)
            batch = []
    if batch:
        _add_batch(columns, batch, rows, clean, permutations)
        rows += len(batch)
    chars = columns.joined("chars", np.uint32)
    quality = columns.joined("quality", np.uint8) if clean.quality else np.zeros(rows, np.uint8)
    arrays = {
        "chars": chars,
        "exact": columns.joined("exact", np.uint64, 2),
        "quality": quality,
        "line_rows": columns.joined("line_rows", np.uint32),
        "line_hashes": columns.joined("line_hashes", np.uint64),
        "line_chars": columns.joined("line_chars", np.uint32),
    }
    minhash = columns.joined("minhash", np.uint32, clean.permutations if clean.near else 0)
    bands = np.ascontiguousarray(columns.joined("bands", np.uint64, clean.bands if clean.near else 0).T)
    with atomic_outputs(outputs["docs"], outputs["minhash"], outputs["bands"]) as (docs_tmp, minhash_tmp, bands_tmp):
        with open(docs_tmp, "wb") as handle:
            np.savez(handle, **arrays)
        with open(minhash_tmp, "wb") as handle:
            np.save(handle, minhash)
        with open(bands_tmp, "wb") as handle:
            np.save(handle, bands)
    return {"documents": rows, "chars": int(chars.sum(dtype=np.int64)), "input_bytes": input_bytes,
            "quality_failures": int(np.count_nonzero(quality))}

