"""Stage 1: raw documents → sentences → words.

Sentence splitting follows the seed's rules (``words_segmentation.py``): runs of a terminator
collapse to one, and a sentence ends after each of ``。?？;；!！`` and at every newline. Unlike
upstream, closing quotes and brackets that follow a terminator stay with their sentence
(``他说：“好。”`` is one sentence, not ``他说：“好。`` + ``”``).

A sentence longer than ``segment.max_sentence_chars`` (a long stretch without terminators) is cut
into pieces of at most that many characters, each cut after the last comma-like mark or space in
the second half of the piece, else at the limit. LAC does not truncate: its time and memory grow
with a sentence's length (about 40 µs and 10 KB per character), so one unpunctuated 50 MB
document would otherwise stall the job or exhaust memory.

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

from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.corpus.readers import load_documents

TERMINATORS = "。?？;；!！"
# Closing quotes/brackets that belong to the sentence they close.
CLOSERS = "”’\"'）)》」』】〕〉"
_COLLAPSE = re.compile(r"([\n。?？ ;；！!])\1*[ ]*")
_SPLIT_AFTER = re.compile(f"([{re.escape(TERMINATORS)}][{re.escape(CLOSERS)}]*)")


# Where a long unpunctuated stretch is cut: after one of these, when there is one.
SOFT_BREAKS = "，,、：:　 "


def split_sentences(text: str, max_chars: int = 0) -> list[str]:
    """Split a document into non-empty sentences (terminators and closers kept); sentences longer
    than ``max_chars`` (0: no limit) are cut into pieces of at most ``max_chars`` characters."""
    text = _COLLAPSE.sub(r"\1", text)
    text = _SPLIT_AFTER.sub("\\1\n", text)
    sentences = [s for s in (line.strip() for line in text.split("\n")) if s]
    if max_chars:
        sentences = [piece for s in sentences for piece in _cut(s, max_chars)]
    return sentences


def _cut(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    pieces, start = [], 0
    while len(sentence) - start > max_chars:
        end = start + max_chars
        soft = max(sentence.rfind(c, start + max_chars // 2, end) for c in SOFT_BREAKS)
        cut = soft + 1 if soft >= 0 else end
        pieces.append(sentence[start:cut])
        start = cut
    pieces.append(sentence[start:])
    return [p for p in (piece.strip() for piece in pieces) if p]


class LacSegmenter:
    """LAC word segmentation in fixed-size batches.

    LAC 2.1.2's predictor on Paddle 2.6 returns wrong, run-to-run varying words for a few sentences
    when the number of sentences per call changes between calls (seen: 10 of 17,261 sentences with
    per-document batches, 0 with fixed batches, against one-sentence calls). So every call gets
    exactly ``batch_size`` sentences: the last chunk is padded with copies of its last sentence.
    """

    def __init__(self, mode: str = "seg", batch_size: int = 32, custom_dict: str | None = None):
        from ernie_pipeline.segment.lac_paddle import load_lac

        self.mode = mode
        self.batch_size = batch_size
        if custom_dict:  # a private instance: the customisation changes the model object
            self.lac = load_lac.__wrapped__(mode)
            self.lac.load_customization(custom_dict)
        else:
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


class JiebaSegmenter:
    """jieba's default accurate mode with HMM (upstream's ``jieba.cut``); whitespace kept as words."""

    def __init__(self, custom_dict: str | None = None):
        import jieba

        self.tokenizer = jieba.Tokenizer()
        if custom_dict:
            self.tokenizer.load_userdict(custom_dict)

    def __call__(self, sentences: list[str]) -> list[list[str]]:
        return [list(self.tokenizer.cut(s)) for s in sentences]


SEGMENTERS = ("seg", "lac", "jieba")
ENGINES = ("numpy", "paddle")


def make_segmenter(name: str, batch_size: int = 32, custom_dict: str | None = None, engine: str = "numpy"
                   ) -> Callable[[list[str]], list[list[str]]]:
    """``seg`` / ``lac``: LAC's two models; ``jieba``. ``custom_dict``: LAC's customisation file
    (``word`` or ``word/TAG`` per line) or a jieba user dictionary. ``engine`` runs LAC's ``seg``
    model: ``numpy`` (:mod:`lac_fast`, the same words, several times faster) or ``paddle`` (LAC's
    own predictor, ``batch_size`` sentences per call); ``lac`` always runs on Paddle."""
    if custom_dict and not Path(custom_dict).is_file():
        raise FileNotFoundError(f"config segment.custom_dict: {custom_dict} does not exist")
    if engine not in ENGINES:
        raise ValueError(f"config segment.engine: unknown engine {engine!r} (choose from {ENGINES})")
    if name == "jieba":
        return JiebaSegmenter(custom_dict)
    if name == "seg" and engine == "numpy":
        from ernie_pipeline.segment.lac_fast import FastSegmenter

        return FastSegmenter(custom_dict, lac_batch_size=batch_size)
    if name in ("seg", "lac"):
        return LacSegmenter(name, batch_size, custom_dict)
    raise ValueError(f"config segment.segmenter: unknown segmenter {name!r} (choose from {SEGMENTERS})")


def segment_file(
    in_path: str | Path,
    out_path: str | Path,
    fmt: str = "wudao",
    segmenter: Callable[[list[str]], list[list[str]]] | None = None,
    json_key: str = "text",
    input_key: str | None = None,
    stats_path: str | Path | None = None,
    on_error: str = "fail",
    max_document_chars: int = 0,
    max_sentence_chars: int = 0,
    max_invalid_utf8_share: float = 0.5,
) -> dict:
    """Segment one raw shard (format ``fmt``, see :mod:`readers`) into a jsonl shard; return its
    counts, also written to ``stats_path`` as JSON when given.

    ``on_error``: ``fail`` raises :class:`~ernie_pipeline.corpus.readers.CorpusFormatError` at the first
    bad record (no output is written); ``skip`` leaves bad records out and counts them by reason
    (``skipped``, with the first few messages in ``skipped_examples``). ``max_document_chars``:
    longer documents are bad records; ``max_sentence_chars``: longer sentences are cut (0: no
    limit for either); ``max_invalid_utf8_share``: under ``skip``, a file with a larger share of records
    that are not UTF-8 is refused whole."""
    contents, skipped = load_documents(in_path, fmt, input_key, max_document_chars, on_error, max_invalid_utf8_share)
    documents = [split_sentences(content, max_sentence_chars) for content in contents]
    del contents  # the raw texts are not needed any more: about half the peak memory of a shard
    segmenter = segmenter or make_segmenter("seg")
    words_per_document = segment_documents(documents, segmenter, getattr(segmenter, "sentences_per_call", 512))
    stats = {"documents": 0, "empty_documents": 0, "sentences": 0, "characters": 0}
    with atomic_write(out_path) as out:
        for sentences, words in tqdm(zip(documents, words_per_document), total=len(documents),
                                     desc=f"segment {Path(in_path).name}", unit="doc", mininterval=5):
            if not sentences:
                stats["empty_documents"] += 1
                continue
            lines = [" ".join(w) for w in words]
            out.write(json.dumps({json_key: "\n".join(lines) + "\n"}, ensure_ascii=False) + "\n")
            stats["documents"] += 1
            stats["sentences"] += len(lines)
            stats["characters"] += sum(len(x) for x in sentences)
    stats.update(skipped=dict(sorted(skipped.counts.items())), skipped_examples=skipped.examples)
    if stats_path:
        with atomic_write(stats_path) as handle:
            json.dump({"shard": str(in_path), **stats}, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
    return stats
