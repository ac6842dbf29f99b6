"""Stage 3: segmented corpus jsonl → token ids with whole-word ``##`` markers (upstream
``create_pretraining_data.py --split_sentences --chinese --cn_whole_word_segment --cn_splited``).

Per document: sentences are the ``\\n``-separated lines; the words of a sentence are its
space-separated fields (a run of spaces restores one real space, as upstream). The words are joined
and WordPiece-tokenised with paddlenlp's ``ErnieTokenizer``; then every Chinese token that starts a
segmented word of up to ``max_word_length`` tokens keeps its form and the rest of the word becomes
``##X`` (ids from ``ErnieTokenizer.extend_chinese_char()``, i.e. ``>= vocab_size``). Training maps
``##X`` back to ``X`` for the model input and uses the marks for whole-word masking.
"""

from __future__ import annotations

import functools
import multiprocessing
import re
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.indexed import IdsWriter, ids_dtype
from ernie_pipeline.readers import jsonl_text

_HAS_CJK = re.compile("[\u4e00-\u9fa5]")


def load_tokenizer(vocab_dir: str | Path):
    """paddlenlp ``ErnieTokenizer`` from a folder with ``vocab.txt``, with ``##X`` Chinese ids added."""
    from paddlenlp.transformers import ErnieTokenizer

    vocab_dir = Path(vocab_dir)
    if not (vocab_dir / "vocab.txt").is_file():
        raise FileNotFoundError(f"{vocab_dir}: no vocab.txt (config tokenize.vocab_dir)")
    tokenizer = ErnieTokenizer.from_pretrained(str(vocab_dir))
    tokenizer.extend_chinese_char()
    return tokenizer


def split_words(sentence: str, delimiter: str = " ") -> list[str]:
    """Undo the segmenter's join: fields of the sentence, where a second empty field in a row stands
    for a literal delimiter that the segmenter had emitted as a word."""
    words = sentence.split(delimiter)
    for i in range(1, len(words)):
        if words[i - 1] == "" and words[i] == "":
            words[i] = delimiter
    return words


def mark_whole_words(tokens: list[str], words: set[str], max_word_length: int = 6) -> list[str]:
    """Prefix ``##`` to the non-initial Chinese tokens of each segmented word (longest match first)."""
    marked: list[str] = []
    i = 0
    while i < len(tokens):
        if not _HAS_CJK.search(tokens[i]):
            marked.append(tokens[i])
            i += 1
            continue
        for length in range(min(max_word_length, len(tokens) - i), 0, -1):
            if "".join(tokens[i : i + length]) in words:
                marked.append(tokens[i])
                marked.extend("##" + t for t in tokens[i + 1 : i + length])
                i += length
                break
        else:
            marked.append(tokens[i])
            i += 1
    return marked


class Converter:
    """Document text → list of sentence id lists. One instance per worker process."""

    def __init__(self, vocab_dir: str | Path, max_word_length: int = 6):
        self.tokenizer = load_tokenizer(vocab_dir)
        self.max_word_length = max_word_length

    def sentence_ids(self, sentence: str) -> list[int]:
        words = split_words(sentence)
        tokens = self.tokenizer.tokenize("".join(words))
        marked = mark_whole_words(tokens, set(words), self.max_word_length)
        return self.tokenizer.convert_tokens_to_ids(marked)

    def document_ids(self, text: str) -> list[list[int]]:
        return [self.sentence_ids(s) for s in text.split("\n") if s.strip()]


_worker: Converter | None = None


def _init_worker(vocab_dir: str, max_word_length: int) -> None:
    global _worker
    _worker = Converter(vocab_dir, max_word_length)


def _convert_lines(chunk: list[tuple[int, str]], json_key: str, source: str) -> list[list[list[int]]]:
    docs = []
    for number, line in chunk:
        docs.append(_worker.document_ids(jsonl_text(line, json_key, source, number)))
    return docs


def _chunks(path: Path, size: int):
    chunk = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            chunk.append((number, line))
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _ordered_parallel(chunks, workers: int, initargs: tuple, work):
    """Run ``work`` over ``chunks`` in worker processes, yielding results in input order with a
    bounded number of chunks in flight (memory stays flat however large the input). A worker that
    dies or fails its set-up raises here instead of hanging the job."""
    # spawn, not fork: the parent may hold Paddle's OpenMP threads. Callers guard __main__.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(work, chunk))
            if len(pending) >= 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def convert_jsonl(
    jsonl_path: str | Path,
    vocab_dir: str | Path,
    output_prefix: str | Path,
    json_key: str = "text",
    max_word_length: int = 6,
    workers: int = 1,
    chunksize: int = 64,
) -> dict:
    """Tokenise a jsonl corpus into ``<prefix>_ids.npy`` + ``<prefix>_idx.npz``; return counts."""
    jsonl_path = Path(jsonl_path)
    with open(Path(vocab_dir) / "vocab.txt", encoding="utf-8") as handle:
        base_size = sum(1 for _ in handle)
    writer = IdsWriter(output_prefix, ids_dtype(base_size))
    work = functools.partial(_convert_lines, json_key=json_key, source=str(jsonl_path))
    chunks = _chunks(jsonl_path, chunksize)
    try:
        if workers > 1:
            results = _ordered_parallel(chunks, workers, (str(vocab_dir), max_word_length), work)
        else:
            _init_worker(str(vocab_dir), max_word_length)
            results = map(work, chunks)
        with tqdm(desc="token ids", unit="doc", mininterval=5) as progress:
            for docs in results:
                for doc in docs:
                    writer.add_document(doc)
                progress.update(len(docs))
    except BaseException:
        writer.abort()
        raise
    return writer.finalize()
