"""Benchmark decontamination: pretraining documents that hold a benchmark passage (a dev or test example of
``eval.tasks``, a line of ``clean.contamination_files``) are removed, and counted per source. A document holds a
passage when it shares at least ``contamination_min_share`` of the passage's distinct character n-grams
(``contamination_ngram_chars``, 13 by default; a share of 0: any one n-gram); n-grams found in more than
``contamination_max_passages`` passages are the benchmark's own template and do not count. A share, not any one n-gram: web
text shares its boilerplate ("返回搜狐,查看更多责任编辑:") with benchmark text drawn from the web, and on the
sample one shared 13-gram flags a third of the corpus (PaLM's rule is a share too: 70 % of an example's 8-grams).

The benchmark text is normalised as the documents are (:mod:`~ernie_pipeline.clean.normalise`); each sentence of a
pair task is a passage of its own (an n-gram never spans the two). A passage shorter than n characters cannot
be matched. Every dev and test example is read (``max_examples`` slices fine-tuning, not this). Sources are
*labels*: ``<task>/dev``, ``<task>/test`` and ``file:<path>``; up to 64 (a bit each).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ernie_pipeline.clean import _signatures
from ernie_pipeline.clean.normalise import normalise
from ernie_pipeline.clean.grouping import runs
from ernie_pipeline.clean.signatures import BATCH_DOCS, kept_documents
from ernie_pipeline.corpus.readers import CorpusFormatError, numbered_lines
from ernie_pipeline.corpus.tasks import TaskSettings, read_records
from ernie_pipeline.io.atomic import write_arrays
from ernie_pipeline.segment.settings import JsonlSettings

MAX_LABELS = 64


def benchmark_passages(tasks: dict[str, TaskSettings], files: tuple[str, ...]) -> dict[str, list[str]]:
    """label -> the passages of that source, as read (dev and test of each task, then each extra file)."""
    passages = {}
    for name, task in tasks.items():
        every = dataclasses.replace(task, max_examples=0)
        for split in ("dev", "test"):
            passages[f"{name}/{split}"] = [text for texts, _label, _line in read_records(task.path(split), every)
                                           for text in texts]
    for path in files:
        lines = []
        try:
            for number, line in numbered_lines(Path(path)):
                if isinstance(line, CorpusFormatError):
                    raise ValueError(f"{line} (config clean.contamination_files: UTF-8 text, a passage a line)")
                if line.strip():
                    lines.append(line)
        except CorpusFormatError as err:
            raise ValueError(f"{err} (config clean.contamination_files)") from None
        passages[f"file:{path}"] = lines
    if len(passages) > MAX_LABELS:
        raise ValueError(f"config eval.tasks / clean.contamination_files: {len(passages)} benchmark sources, at most "
                         f"{MAX_LABELS} (two per task, one per file)")
    return passages


def write_table(passages: dict[str, list[str]], n: int, max_passages: int, out_path: str | Path) -> dict:
    """The benchmark's n-grams as a lookup table (.npz): ``hashes`` (sorted, distinct), for each the passages
    holding it (``passages[offsets[i]:offsets[i + 1]]``), and per passage its source (``source``) and distinct
    n-gram count (``ngrams``); ``labels`` names the sources. N-grams of more than ``max_passages`` passages are
    template (a disclaimer under every article), not text: left out. Return the passages and n-grams per
    source."""
    hashes, owners, sources, counts, stats = [], [], [], [], {}
    for label, texts in passages.items():
        normalised = [normalise(t) for t in texts]
        for text in normalised:
            distinct = np.unique(_signatures.long_ngram_hashes([text], n))
            hashes.append(distinct)
            owners.append(np.full(len(distinct), len(counts), np.int32))
            sources.append(len(stats))
            counts.append(len(distinct))
        stats[label] = {"passages": len(texts), "shorter_than_n": sum(len(t) < n for t in normalised),
                        "ngrams": int(sum(counts[len(counts) - len(texts):]))}
    all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    all_owners = np.concatenate(owners) if owners else np.zeros(0, np.int32)
    order = np.lexsort((all_owners, all_hashes))
    all_hashes, all_owners = all_hashes[order], all_owners[order]
    starts, widths = runs(all_hashes)
    text = widths <= max_passages
    keep = np.repeat(text, widths)
    all_owners = all_owners[keep]
    table = {"hashes": all_hashes[starts[text]], "offsets": np.r_[0, np.cumsum(widths[text])].astype(np.int64),
             "passages": all_owners, "source": np.array(sources, np.int32),
             "ngrams": np.bincount(all_owners, minlength=len(counts)).astype(np.int64),
             "labels": np.array(list(passages), dtype=str), "n": np.array(n)}
    write_arrays(out_path, table)
    return {"ngram_chars": n, "distinct_ngrams": len(table["hashes"]), "template_ngrams": int(np.count_nonzero(~text)),
            "sources": stats}


def read_table(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def contaminating_sources(table: dict[str, np.ndarray], docs: np.ndarray, entries: np.ndarray,
                          min_share: float) -> tuple[np.ndarray, np.ndarray]:
    """From a batch's (document, table entry) matches: the documents that hold at least ``min_share`` of some
    passage's distinct n-grams (0: any one), with the bit mask of those passages' sources."""
    offsets = table["offsets"]
    widths = offsets[entries + 1] - offsets[entries]
    pair_docs = np.repeat(docs, widths)
    # each match's passages: offsets[entry] ... offsets[entry + 1] - 1, all matches' ranges back to back
    shift = np.repeat(offsets[entries] - np.cumsum(widths) + widths, widths)
    pair_passages = table["passages"][shift + np.arange(len(pair_docs))]
    if not len(pair_docs):
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    keys = pair_docs.astype(np.int64) * len(table["ngrams"]) + pair_passages
    keys, shared = np.unique(keys, return_counts=True)
    doc, passage = np.divmod(keys, len(table["ngrams"]))
    enough = shared >= np.maximum(1, np.ceil(min_share * table["ngrams"][passage]))
    doc, passage = doc[enough], passage[enough]
    bits = np.uint64(1) << table["source"][passage].astype(np.uint64)
    if not len(doc):
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    starts = runs(doc)[0]
    return doc[starts], np.bitwise_or.reduceat(bits, starts)


def shard_contamination(jsonl_path: str | Path, table_path: str | Path, out_path: str | Path,
                        jsonl: JsonlSettings, min_share: float) -> dict:
    """The rows of a segmented shard that hold at least ``min_share`` of a benchmark passage's n-grams, with their
    sources' bit masks (``rows``, ``masks``); return the documents per source."""
    table = read_table(table_path)
    matcher = _signatures.NgramTable(table["hashes"], int(table["n"]))
    rows, masks = [], []
    batch: list[str] = []
    first = 0

    def flush():
        docs, entries = matcher.matches(batch)
        found_docs, found_masks = contaminating_sources(table, docs, entries, min_share)
        rows.append(found_docs + first)
        masks.append(found_masks)

    for text in kept_documents(jsonl_path, jsonl):
        batch.append(normalise(text))
        if len(batch) == BATCH_DOCS:
            flush()
            first += len(batch)
            batch = []
    if batch:
        flush()
    found = {"rows": np.concatenate(rows) if rows else np.zeros(0, np.int64),
             "masks": np.concatenate(masks) if masks else np.zeros(0, np.uint64)}
    write_arrays(out_path, found)
    return {"contaminated": len(found["rows"]), **documents_per_source(found["masks"], table["labels"])}


def documents_per_source(masks: np.ndarray, labels) -> dict[str, int]:
    """How many of the documents (their source bit masks) overlap each source."""
    return {str(label): int(np.count_nonzero(masks & (np.uint64(1) << np.uint64(bit))))
            for bit, label in enumerate(labels)}
