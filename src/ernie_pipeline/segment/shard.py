"""One raw shard -> sentences -> words -> a jsonl shard (stage 1).

Output of a shard: JSON Lines, one document per line, ``{"text": "<sentence>\\n<sentence>\\n..."}``
with the words of each sentence separated by single spaces (the seed's ``words_segmentation.py`` +
``trans_to_json.py`` in one pass).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.corpus.readers import load_documents
from ernie_pipeline.segment.segmenters import make_segmenter
from ernie_pipeline.segment.sentences import split_sentences
from ernie_pipeline.segment.settings import DatasetSettings, SegmentSettings


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


def segment_file(in_path: str | Path, out_path: str | Path, segmenter: Callable[[list[str]], list[list[str]]] | None,
                 dataset: DatasetSettings, segment: SegmentSettings, json_key: str = "text", *,
                 stats_path: str | Path | None = None) -> dict:
    """Segment one raw shard (``dataset``'s format, see :mod:`readers`) into a jsonl shard of documents under
    ``json_key``; return its counts, also written to ``stats_path`` as JSON when given. ``segmenter`` (None: LAC's
    seg) is built from ``segment`` by the job (:func:`ernie_pipeline.segment.segmenters.make_segmenter`).

    ``dataset.on_error``: ``fail`` raises :class:`~ernie_pipeline.corpus.readers.CorpusFormatError` at the first
    bad record (no output is written); ``skip`` leaves bad records out and counts them by reason
    (``skipped``, with the first few messages in ``skipped_examples``). ``max_document_chars``:
    longer documents are bad records; ``max_sentence_chars``: longer sentences are cut (0: no
    limit for either); ``max_invalid_utf8_share``: under ``skip``, a file with a larger share of records
    that are not UTF-8 is refused whole."""
    contents, skipped = load_documents(in_path, dataset.format, dataset.input_key, segment.max_document_chars,
                                       dataset.on_error, segment.max_invalid_utf8_share)
    documents = [split_sentences(content, segment.max_sentence_chars) for content in contents]
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
