"""``char_dict.pickle``: character counts over a seeded sample of every dataset (upstream ``gen_char.py``).

Counting is per segmented shard (so a new shard only counts itself) and the shards' counts are
summed. Which documents are counted is decided per document by a hash of (seed, dataset, shard,
document number): a fraction ``count_fraction`` of them (upstream: a 10 GB random sample), after a
fraction ``heldout_fraction`` is set aside, uncounted, for the vocabulary's coverage report.
Documents that ``corpus_jsonl`` drops (``min_doc_length``) are neither.

Layout as upstream: a pickled ``collections.defaultdict(int)`` mapping each character to its count.
Keys are stored in descending count order (ties by code point), so the file is byte-identical for
the same input. Read it back only with :func:`load_char_dict` (restricted unpickler).
"""

from __future__ import annotations

import collections
import hashlib
import json
import pickle
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from ernie_pipeline.io.atomic import atomic_outputs, atomic_write
from ernie_pipeline.segment.corpus_jsonl import keeps_document
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.vocab.settings import VocabSettings
from ernie_pipeline.corpus.readers import jsonl_text
from ernie_pipeline.io.safe_pickle import load_plain

PICKLE_PROTOCOL = 4


def document_draw(seed: int, dataset: str, shard: str, number: int) -> float:
    """A uniform number in [0, 1) fixed by the document's identity and the seed (not by the
    machine, the number of jobs or the order shards are processed in)."""
    digest = hashlib.blake2b(f"{seed}\0{dataset}\0{shard}\0{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def drawn_documents(jsonl_path: str | Path, dataset: str, shard: str, jsonl: JsonlSettings, seed: int,
                    desc: str = "read") -> Iterator[tuple[float, str]]:
    """``(document_draw, text)`` of each document of a segmented shard that ``corpus_jsonl`` keeps
    (longer than ``jsonl.min_doc_length``): the one place that decides which documents are sampled or
    held out, for scheme 1's counts and scheme 2's text alike."""
    with open(jsonl_path, encoding="utf-8") as handle:
        for number, line in enumerate(tqdm(handle, desc=f"{desc} {shard}", unit="doc", mininterval=5), 1):
            text = jsonl_text(line, jsonl.json_key, jsonl_path, number)
            if keeps_document(text, jsonl.min_doc_length):
                yield document_draw(seed, dataset, shard, number), text


def count_shard(jsonl_path: str | Path, dataset: str, shard: str, vocab: VocabSettings, jsonl: JsonlSettings
                ) -> tuple[collections.Counter, list[str]]:
    """Character counts of the sampled documents of one segmented shard (``vocab.char_count_fraction``), and the
    held-out documents' texts (``vocab.heldout_fraction``; see the module docstring)."""
    counts: collections.Counter = collections.Counter()
    heldout: list[str] = []
    held, counted = vocab.heldout_fraction, vocab.char_count_fraction
    for draw, text in drawn_documents(jsonl_path, dataset, shard, jsonl, vocab.seed, "count chars"):
        if draw < held:
            heldout.append(text)
        elif (draw - held) < counted * (1 - held):
            counts.update(text)
    return counts, heldout


def write_shard_counts(counts: collections.Counter, heldout: list[str], counts_path: str | Path,
                       heldout_path: str | Path, json_key: str = "text") -> None:
    """Counts as JSON (descending count, ties by character) and held-out documents as jsonl."""
    with atomic_outputs(counts_path, heldout_path) as (tmp_counts, tmp_heldout):
        ordered = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        tmp_counts.write_text(json.dumps(ordered, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        with open(tmp_heldout, "w", encoding="utf-8") as out:
            for text in heldout:
                out.write(json.dumps({json_key: text}, ensure_ascii=False) + "\n")


def sum_counts(paths: list[str | Path]) -> collections.Counter:
    """The sum of per-shard count files."""
    total: collections.Counter = collections.Counter()
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
            raise ValueError(f"{path}: a character count file must map characters to integers")
        total.update(data)
    return total


def write_char_dict(counts: collections.Counter, out_path: str | Path) -> None:
    ordered = collections.defaultdict(int)
    for char, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        ordered[char] = count
    with atomic_write(out_path, "wb") as handle:
        pickle.dump(ordered, handle, protocol=PICKLE_PROTOCOL)


def load_char_dict(path: str | Path) -> dict[str, int]:
    data = load_plain(path)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in data.items()):
        raise ValueError(f"{path}: a char_dict.pickle must map characters (str) to counts (int)")
    return dict(data)
