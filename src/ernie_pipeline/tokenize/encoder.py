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

import re
import warnings
from pathlib import Path

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.tokenize.settings import ENGINES, TokenizeSettings, checked_eos_id
from ernie_pipeline.tokenize.tokenizer import load_tokenizer, vocab_fingerprint
from ernie_pipeline.tokenize.whole_word import ReferenceConverter


_SURROGATE = re.compile("[\ud800-\udfff]")

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
