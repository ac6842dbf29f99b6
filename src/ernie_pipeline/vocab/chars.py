"""``char_dict.pickle``: character counts over (a prefix of) each dataset's corpus, like upstream ``gen_char.py``.

Layout as upstream: a pickled ``collections.defaultdict(int)`` mapping each character to its count.
Keys are stored in descending count order (ties by code point), so the file is byte-identical for
the same input. Read it back only with :func:`load_char_dict` (restricted unpickler).
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

from tqdm import tqdm

from ernie_pipeline.atomic import atomic_write
from ernie_pipeline.readers import jsonl_text
from ernie_pipeline.safe_pickle import load_plain

PICKLE_PROTOCOL = 4


def count_chars(jsonl_paths: list[str | Path], json_key: str = "text", max_chars: int = 0) -> collections.Counter:
    """Count characters of the documents of jsonl files (one per dataset), stopping after
    ``max_chars`` (0 = all) in each file, so that every dataset contributes."""
    if isinstance(jsonl_paths, (str, Path)):
        raise TypeError("count_chars takes a list of jsonl paths")
    counts: collections.Counter = collections.Counter()
    for jsonl_path in jsonl_paths:
        seen = 0
        with open(jsonl_path, encoding="utf-8") as handle:
            for number, line in enumerate(tqdm(handle, desc=f"count chars {Path(jsonl_path).name}", unit="doc",
                                               mininterval=5), 1):
                text = jsonl_text(line, json_key, jsonl_path, number)
                counts.update(text)
                seen += len(text)
                if max_chars and seen >= max_chars:
                    break
    return counts


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
