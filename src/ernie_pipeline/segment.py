"""Stage 1: raw documents → sentences → words.

Sentence splitting follows the seed's rules (``words_segmentation.py``): runs of a terminator
collapse to one, and a sentence ends after each of ``。?？;；!！`` and at every newline. Unlike
upstream, closing quotes and brackets that follow a terminator stay with their sentence
(``他说：“好。”`` is one sentence, not ``他说：“好。`` + ``”``).

Output of a shard: JSON Lines, one document per line, ``{"text": "<sentence>\\n<sentence>\\n..."}``
with the words of each sentence separated by single spaces (the seed's ``words_segmentation.py`` +
``trans_to_json.py`` in one pass).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from ernie_pipeline.atomic import atomic_write

TERMINATORS = "。?？;；!！"
# Closing quotes/brackets that belong to the sentence they close.
CLOSERS = "”’\"'）)》」』】〕〉"
_COLLAPSE = re.compile(r"([\n。?？ ;；！!])\1*[ ]*")
_SPLIT_AFTER = re.compile(f"([{re.escape(TERMINATORS)}][{re.escape(CLOSERS)}]*)")


def split_sentences(text: str) -> list[str]:
    """Split a document into non-empty sentences (terminators and closers kept)."""
    text = _COLLAPSE.sub(r"\1", text)
    text = _SPLIT_AFTER.sub("\\1\n", text)
    return [s for s in (line.strip() for line in text.split("\n")) if s]


def read_wudao(path: str | Path) -> Iterator[str]:
    """Yield the ``content`` of each object of a WuDao JSON file (one JSON array per file)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            records = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}:{err.colno}: not valid WuDao JSON: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: byte {err.start}: invalid UTF-8") from None
    if not isinstance(records, list):
        raise ValueError(f"{path}: a WuDao file must hold a JSON array, found {type(records).__name__}")
    for number, record in enumerate(records):
        if not isinstance(record, dict) or "content" not in record:
            raise ValueError(f"{path}: element {number} has no 'content' field")
        yield record["content"]


READERS: dict[str, Callable[[str | Path], Iterable[str]]] = {"wudao": read_wudao}


class LacSegmenter:
    """LAC word segmentation in fixed-size batches.

    LAC 2.1.2's predictor on Paddle 2.6 returns wrong, run-to-run varying words for a few sentences
    when the number of sentences per call changes between calls (seen: 10 of 17,261 sentences with
    per-document batches, 0 with fixed batches, against one-sentence calls). So every call gets
    exactly ``batch_size`` sentences: the last chunk is padded with copies of its last sentence.
    """

    def __init__(self, mode: str = "seg", batch_size: int = 32):
        from ernie_pipeline.lac_compat import load_lac

        self.mode = mode
        self.batch_size = batch_size
        self.lac = load_lac(mode)

    def __call__(self, sentences: list[str]) -> list[list[str]]:
        words: list[list[str]] = []
        for start in range(0, len(sentences), self.batch_size):
            chunk = list(sentences[start : start + self.batch_size])
            real = len(chunk)
            chunk += [chunk[-1]] * (self.batch_size - real)
            result = self.lac.run(chunk)[:real]
            # mode 'lac' returns (words, tags) pairs; keep the words.
            words.extend(r[0] if self.mode == "lac" else r for r in result)
        return words


def segment_documents(documents: Iterable[list[str]], segmenter: Callable[[list[str]], list[list[str]]],
                      sentences_per_call: int = 512) -> Iterator[list[list[str]]]:
    """Segment the sentences of each document, calling ``segmenter`` on ~``sentences_per_call``
    sentences gathered across documents (few padded batches); yields per document, in order."""
    pending: list[list[str]] = []
    count = 0

    def flush():
        words = segmenter([s for doc in pending for s in doc])
        start = 0
        for doc in pending:
            yield words[start : start + len(doc)]
            start += len(doc)

    for sentences in documents:
        pending.append(sentences)
        count += len(sentences)
        if count >= sentences_per_call:
            yield from flush()
            pending, count = [], 0
    if pending:
        yield from flush()


def make_segmenter(name: str, batch_size: int = 32) -> Callable[[list[str]], list[list[str]]]:
    if name in ("seg", "lac"):
        return LacSegmenter(name, batch_size)
    raise ValueError(f"config segment.segmenter: unknown segmenter {name!r} (choose 'seg' or 'lac')")


def segment_file(
    in_path: str | Path,
    out_path: str | Path,
    fmt: str = "wudao",
    segmenter: Callable[[list[str]], list[list[str]]] | None = None,
    json_key: str = "text",
) -> dict:
    """Segment one raw shard into a jsonl shard; return counts for the log."""
    if fmt not in READERS:
        raise ValueError(f"unknown corpus format {fmt!r}; known: {sorted(READERS)}")
    segmenter = segmenter or make_segmenter("seg")
    stats = {"documents": 0, "empty_documents": 0, "sentences": 0, "characters": 0}
    documents = [split_sentences(content) for content in READERS[fmt](in_path)]
    with atomic_write(out_path) as out:
        for sentences, words in tqdm(zip(documents, segment_documents(documents, segmenter)), total=len(documents),
                                     desc=f"segment {Path(in_path).name}", unit="doc", mininterval=5):
            if not sentences:
                stats["empty_documents"] += 1
                continue
            lines = [" ".join(w) for w in words]
            out.write(json.dumps({json_key: "\n".join(lines) + "\n"}, ensure_ascii=False) + "\n")
            stats["documents"] += 1
            stats["sentences"] += len(lines)
            stats["characters"] += sum(len(x) for x in sentences)
    return stats
