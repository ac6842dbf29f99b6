"""Stage 3: segmented jsonl → token ids with whole-word ``##`` markers (upstream
``create_pretraining_data.py --split_sentences --chinese --cn_whole_word_segment --cn_splited``).

Per document: sentences are the ``\\n``-separated lines (``split_sentences``; otherwise the whole
document is one sentence); the words of a sentence are its fields split on ``word_delimiter``
(upstream ``cn_split_dimer``; the second of two empty fields in a row stands for a literal
delimiter, as upstream). The words are joined and WordPiece-tokenised as paddlenlp's
``ErnieTokenizer`` does; then (``whole_word``, upstream ``cn_whole_word_segment``) every token with a
character in U+4E00-U+9FA5 that starts a segmented word of up to ``max_word_length`` tokens keeps
its form and the rest of the word becomes ``"##" + token``. Those ids come from
``ErnieTokenizer.extend_chinese_char()``: ``##X`` for a CJK character X of the vocabulary is
``vocab_size + k`` (k-th such character in vocabulary order) unless ``##X`` is itself in the
vocabulary; any other ``##``-marked token takes the id of ``"##" + token`` if the vocabulary has it,
else ``[UNK]``. Training maps ``##X`` back to ``X`` for the model input and uses the marks for
whole-word masking. Empty sentences and documents without tokens are dropped (upstream).

Two engines give the same ids: ``paddlenlp`` (the tokenizer itself, upstream's way) and ``native``
(:mod:`ernie_pipeline.tokenize.tables`, which hands the documents it cannot decide alone back to
paddlenlp).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.io.atomic import atomic_write, scratch_directory
from ernie_pipeline.data.token_files import IdsWriter, merge_ids
from ernie_pipeline.corpus.corpus_jsonl import keeps_document
from ernie_pipeline.corpus.document_order import document_order
from ernie_pipeline.corpus.readers import jsonl_text
from ernie_pipeline.vocab.constants import SPECIAL_TOKENS, check_ids_fit, extended_size, has_cjk, ids_dtype

_SURROGATE = re.compile("[\ud800-\udfff]")
ENGINES = ("native", "paddlenlp")


@dataclass(frozen=True)
class TokenizeSettings:
    whole_word: bool = True       # upstream --cn_whole_word_segment
    max_word_length: int = 6      # longest word (in tokens) marked as a whole
    word_delimiter: str = " "     # upstream --cn_split_dimer
    split_sentences: bool = True  # upstream --split_sentences (lines are sentences)
    append_eos: bool = False      # upstream --append_eos
    engine: str = "native"        # native | paddlenlp


def check_vocab_file(path: str | Path) -> int:
    """Refuse a vocab.txt that would silently give wrong ids; return its number of tokens."""
    path = Path(path)
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            token = line.rstrip("\n")
            if not token.strip():
                raise ValueError(f"{path}:{number}: empty token")
            if token in seen:
                raise ValueError(f"{path}:{number}: token {token!r} repeats line {seen[token]}")
            seen[token] = number
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise ValueError(f"{path}: special tokens {missing} missing (an ERNIE vocabulary needs {list(SPECIAL_TOKENS)})")
    return len(seen)


def load_tokenizer(source: str | Path):
    """paddlenlp ``ErnieTokenizer`` with the ``##X`` Chinese ids added: ``source`` is a folder with
    ``vocab.txt`` or a paddlenlp built-in name (downloaded by paddlenlp; needs the network)."""
    from paddlenlp.transformers import ErnieTokenizer

    folder = Path(source)
    if folder.is_dir():
        vocab_file = folder / "vocab.txt"
        if not vocab_file.is_file():
            raise FileNotFoundError(f"{folder}: no vocab.txt (config tokenize.tokenizer)")
        check_vocab_file(vocab_file)
    elif "/" in str(source):  # built-in names have no slash
        raise FileNotFoundError(f"{source}: no such tokenizer folder (config tokenize.tokenizer)")
    tokenizer = ErnieTokenizer.from_pretrained(str(source))
    if ids_dtype(tokenizer.vocab_size) == np.uint16:  # a larger base vocabulary gets int32 files (upstream)
        check_ids_fit(extended_size(tokenizer.vocab.token_to_idx), str(source), "use a smaller vocabulary")
    tokenizer.verbose = False
    tokenizer.extend_chinese_char()
    return tokenizer


def vocab_fingerprint(tokenizer) -> str:
    """sha256 of every token and id the token files depend on (base vocabulary + added ``##X``)."""
    digest = hashlib.sha256()
    for token, index in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1]):
        digest.update(f"{index}\t{token}\n".encode("utf-8"))
    return digest.hexdigest()


def check_same_vocabulary(prefix: str | Path, tokenizer) -> None:
    """Refuse token files made with another vocabulary than ``tokenizer``'s, when their stats say so
    (``<prefix>.stats.json`` of the ``token_ids`` rule; files from elsewhere have none)."""
    stats_path = Path(f"{prefix}.stats.json")
    if not stats_path.is_file():
        return
    made_with = json.loads(stats_path.read_text(encoding="utf-8"))["merge"]["vocab_sha256"]
    if made_with != vocab_fingerprint(tokenizer):
        raise ValueError(f"{prefix}_ids.npy was tokenised with another vocabulary than the one training loads "
                         f"(sha256 {made_with[:12]}... in {stats_path}): rebuild the token ids")


def split_words(sentence: str, delimiter: str = " ") -> list[str]:
    """Undo the segmenter's join: fields of the sentence, where a second empty field in a row stands
    for a literal delimiter that the segmenter had emitted as a word."""
    words = sentence.split(delimiter)
    for i in range(1, len(words)):
        if words[i - 1] == "" and words[i] == "":
            words[i] = delimiter
    return words


def mark_whole_words(tokens: list[str], words: set[str], max_word_length: int = 6) -> list[str]:
    """Upstream's ``get_whole_word_mask_tokens``: prefix ``##`` to the non-initial tokens of each
    segmented word that starts at a Chinese token (longest match first)."""
    marked: list[str] = []
    i = 0
    while i < len(tokens):
        if not has_cjk(tokens[i]):
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


class ReferenceConverter:
    """Upstream's ``Converter.encode`` on paddlenlp's tokenizer: document text → sentence id lists."""

    def __init__(self, tokenizer, settings: TokenizeSettings = TokenizeSettings()):
        self.tokenizer = tokenizer
        self.settings = settings
        self.eos_id = checked_eos_id(tokenizer.eos_token_id, settings, type(tokenizer).__name__)

    def sentence_ids(self, sentence: str) -> list[int]:
        s = self.settings
        if not s.whole_word:
            return self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(sentence))
        words = split_words(sentence, s.word_delimiter)
        tokens = self.tokenizer.tokenize("".join(words))
        return self.tokenizer.convert_tokens_to_ids(mark_whole_words(tokens, set(words), s.max_word_length))

    def document_ids(self, text: str) -> list[list[int]]:
        sentences = text.split("\n") if self.settings.split_sentences else [text]
        ids = [i for i in map(self.sentence_ids, sentences) if i]
        if ids and self.eos_id is not None:
            ids[-1].append(self.eos_id)
        return ids


def checked_eos_id(eos_token_id: int | None, settings: TokenizeSettings, tokenizer_name: str) -> int | None:
    if not settings.append_eos:
        return None
    if eos_token_id is None:
        raise ValueError(f"tokenize.append_eos: {tokenizer_name} has no eos token")
    return eos_token_id


def build_tables(tokenizer_source: str | Path, out_path: str | Path) -> dict:
    """The compiled tokenizer's tables for ``tokenizer_source``, saved (the ``tokenizer_tables`` rule)."""
    from ernie_pipeline.tokenize.tables import COMPLEX, TokenizerTables

    tokenizer = load_tokenizer(tokenizer_source)
    tables = TokenizerTables.from_tokenizer(tokenizer, vocab_fingerprint(tokenizer))
    tables.save(out_path)
    return {"vocab_size": tables.vocab_size, "added": len(tables.added_vocab), "mapped": len(tables.mapped),
            "context_dependent": int((tables.kinds == COMPLEX).sum()), "vocab_sha256": tables.fingerprint}


class DocumentEncoder:
    """Documents → flat arrays (ids, tokens per sentence, sentences per document), by either engine.

    ``tokenizer`` is a loaded paddlenlp tokenizer, or where to load one from (folder or built-in name):
    with ``tables`` (:class:`~ernie_pipeline.tokenize.tables.TokenizerTables`) the native engine then
    imports paddlenlp only if a document needs it.
    """

    def __init__(self, tokenizer, settings: TokenizeSettings = TokenizeSettings(), tables=None):
        if settings.engine not in ENGINES:
            raise ValueError(f"tokenize.engine: {settings.engine!r} is not one of {ENGINES}")
        self.settings = settings
        self._source = tokenizer if isinstance(tokenizer, (str, Path)) else None
        self._tokenizer = None if self._source is not None else tokenizer
        self._reference: ReferenceConverter | None = None
        self.reference_documents = 0
        self.native = None
        if settings.engine == "native":
            from ernie_pipeline.tokenize.tables import TokenizerTables

            if tables is None:
                tables = TokenizerTables.from_tokenizer(self.tokenizer, vocab_fingerprint(self.tokenizer))
            eos = checked_eos_id(tables.eos_id, settings, "the tokenizer")
            try:
                self.native = tables.native(settings.whole_word, settings.max_word_length, settings.word_delimiter,
                                            settings.split_sentences, eos)
            except ImportError:  # the extension is built by `make setup` (pip install -e .)
                warnings.warn("ernie_pipeline.tokenize._wordpiece is not built: token ids come from paddlenlp (slow); "
                              "run `make setup`", RuntimeWarning, stacklevel=2)
            self.literals = tables.literals
        if self.native is None:
            self.reference  # noqa: B018  (load now: settings errors show before any work)

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self._source)
        return self._tokenizer

    @property
    def reference(self) -> ReferenceConverter:
        if self._reference is None:
            self._reference = ReferenceConverter(self.tokenizer, self.settings)
        return self._reference

    def _has_literal(self, text: str) -> bool:
        """Whether paddlenlp could see a special-token literal in ``text``: the whole-word path tokenises the
        words joined without delimiters, where LAC's ``[ SEP ]`` becomes ``[SEP]``. Searching the text with
        every delimiter removed finds each literal of the joined words (and, at worst, a few more: those
        documents merely take the slower exact path)."""
        if any(literal in text for literal in self.literals):
            return True
        if not self.settings.whole_word:
            return False
        joined = text.replace(self.settings.word_delimiter, "")
        return any(literal in joined for literal in self.literals)

    def _by_reference(self, text: str) -> tuple[np.ndarray, list[int]]:
        self.reference_documents += 1
        sentences = self.reference.document_ids(text)
        flat = np.fromiter((i for s in sentences for i in s), np.int64) if sentences else np.zeros(0, np.int64)
        return flat, [len(s) for s in sentences]

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.native is None:
            return self._splice(texts, [True] * len(texts), None, None, None)
        # special-token literals (split out by paddlenlp first) and lone surrogates (json.loads lets "\\ud800"
        # through; UTF-8 cannot carry them to the compiled side) go to paddlenlp
        by_reference = [self._has_literal(t) or _SURROGATE.search(t) is not None for t in texts]
        ids, lens, counts = self.native.encode([t for t, ref in zip(texts, by_reference) if not ref])
        if not any(by_reference) and (counts >= 0).all():
            return ids, lens, counts
        return self._splice(texts, by_reference, ids, lens, counts)

    def _splice(self, texts, by_reference, ids, lens, counts):
        """The native engine's documents with those that go to paddlenlp put in their places."""
        out_ids, out_lens, out_counts = [np.zeros(0, np.int64)], [np.zeros(0, np.int32)], []
        token, sentence, native_doc = 0, 0, 0
        for text, reference in zip(texts, by_reference):
            count = -1 if reference else int(counts[native_doc])
            native_doc += not reference
            if count < 0:
                flat, doc_lens = self._by_reference(text)
                out_ids.append(flat)
                out_lens.append(np.asarray(doc_lens, np.int32))
                out_counts.append(len(doc_lens))
                continue
            doc_lens = lens[sentence : sentence + count]
            tokens = int(doc_lens.sum())
            out_ids.append(ids[token : token + tokens])
            out_lens.append(doc_lens)
            out_counts.append(count)
            token += tokens
            sentence += count
        return (np.concatenate(out_ids).astype(np.int64, copy=False), np.concatenate(out_lens).astype(np.int32),
                np.asarray(out_counts, np.int64))


def _document_batches(path: Path, json_key: str, min_doc_length: int, batch_docs: int, counts: dict):
    """Batches of document texts longer than ``min_doc_length`` (upstream's filter in trans_to_json)."""
    batch: list[str] = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            counts["input_bytes"] += len(line)
            text = jsonl_text(line, json_key, path, number)
            counts["documents_read"] += 1
            if not keeps_document(text, min_doc_length):
                counts["dropped_short"] += 1
                continue
            batch.append(text)
            if len(batch) == batch_docs:
                yield batch
                batch = []
    if batch:
        yield batch


def tokenize_shard(
    jsonl_path: str | Path,
    tokenizer_source: str | Path,
    output_prefix: str | Path,
    stats_path: str | Path | None = None,
    json_key: str = "text",
    min_doc_length: int = 10,
    settings: TokenizeSettings = TokenizeSettings(),
    tables_path: str | Path | None = None,
    batch_docs: int = 256,
) -> dict:
    """Tokenise one segmented jsonl shard into ``<prefix>_ids.npy`` + ``<prefix>_idx.npz``
    (streamed); return (and write to ``stats_path``) its counts and the vocabulary fingerprint.
    With ``tables_path`` (the ``tokenizer_tables`` artifact) paddlenlp is loaded only if needed."""
    jsonl_path = Path(jsonl_path)
    started = time.perf_counter()
    if tables_path is not None:
        from ernie_pipeline.tokenize.tables import TokenizerTables

        tables = TokenizerTables.load(tables_path)
        vocab_size, fingerprint = tables.vocab_size, tables.fingerprint
        encoder = DocumentEncoder(tokenizer_source, settings, tables)
    else:
        tokenizer = load_tokenizer(tokenizer_source)
        vocab_size, fingerprint = tokenizer.vocab_size, vocab_fingerprint(tokenizer)
        encoder = DocumentEncoder(tokenizer, settings)
    writer = IdsWriter(output_prefix, ids_dtype(vocab_size))
    counts = {"input_bytes": 0, "documents_read": 0, "dropped_short": 0}
    empty_positions: list[int] = []  # among the documents kept by length: where the merge leaves a gap
    setup_seconds = time.perf_counter() - started
    try:
        with tqdm(desc=f"token ids {jsonl_path.name}", unit="doc", mininterval=5) as progress:
            for texts in _document_batches(jsonl_path, json_key, min_doc_length, batch_docs, counts):
                ids, lens, sentences = encoder.encode(texts)
                empty_positions += (np.flatnonzero(sentences == 0) + progress.n).tolist()
                writer.add(ids, lens, sentences)
                progress.update(len(texts))
        written = writer.finalize(allow_empty=True)  # a skipped raw file's shard: no document, a valid pair
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - started - setup_seconds
    stats = {**counts, **written, "empty_documents": len(empty_positions), "empty_positions": empty_positions,
             "reference_documents": encoder.reference_documents, "engine": settings.engine,
             "vocab_size": vocab_size, "vocab_sha256": fingerprint}
    if stats_path is not None:  # without the timings, so that a rerun gives the same file
        with atomic_write(stats_path) as handle:
            json.dump(stats, handle, indent=1)
            handle.write("\n")
    return {**stats, "seconds": round(seconds, 3), "setup_seconds": round(setup_seconds, 3),
            "mb_per_s": round(counts["input_bytes"] / 1e6 / max(seconds, 1e-9), 3)}


def merge_shards(shard_prefixes: list[str | Path], shard_stats: list[str | Path], output_prefix: str | Path,
                 shuffle: bool = True, seed: int = 1234, megatron: bool = False, bucket_mb: int = 256) -> dict:
    """One dataset's token ids from its shards, in shard order or a seeded document permutation
    (the order upstream's ``shuf`` of the merged jsonl gave, reproducibly), with memory bounded by
    ``bucket_mb`` (see :mod:`ernie_pipeline.corpus.document_order`). Shards tokenised with another vocabulary
    are refused, naming the shard."""
    stats = [json.loads(Path(p).read_text(encoding="utf-8")) for p in shard_stats]
    reference = stats[0]["vocab_sha256"]
    for path, shard in zip(shard_stats, stats):
        if shard["vocab_sha256"] != reference:
            raise ValueError(f"{path}: tokenised with another vocabulary (sha256 {shard['vocab_sha256'][:12]}... "
                             f"vs {reference[:12]}... of {shard_stats[0]}); rerun its token_ids_shard job")
        if "empty_positions" not in shard:
            raise ValueError(f"{path}: made by an older version (no empty_positions); rerun its token_ids_shard job")
    if not any(s["documents"] for s in stats):
        raise ValueError(f"{output_prefix}: none of the {len(stats)} shards has a document to tokenise (every raw "
                         f"file skipped, or its documents at most min_doc_length characters); see {shard_stats[0]}")
    # the corpus jsonl's order over the documents kept by length, less those that tokenised to nothing
    kept = np.cumsum([0] + [s["documents"] + s["empty_documents"] for s in stats])
    absent = np.concatenate([np.asarray(s["empty_positions"], np.int64) + start for s, start in zip(stats, kept)])
    Path(output_prefix).parent.mkdir(parents=True, exist_ok=True)
    with scratch_directory(output_prefix, "order") as scratch:
        order = document_order(int(kept[-1]), shuffle, seed, f"{scratch}/order.int64", absent)
        merged = merge_ids(shard_prefixes, output_prefix, order, megatron, bucket_mb << 20)
        del order  # the map, before its file goes
    totals = {key: sum(s[key] for s in stats) for key in
              ("input_bytes", "documents_read", "dropped_short", "empty_documents", "reference_documents")}
    totals["shards_without_documents"] = sum(not s["documents"] for s in stats)
    return {**totals, **merged, "vocab_sha256": reference, "shuffle": shuffle, "seed": seed, "shards": len(stats)}
