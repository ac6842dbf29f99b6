"""paddlenlp's ``ErnieTokenizer`` + upstream's whole-word ``##`` marking, compiled (``_wordpiece``).

paddlenlp tokenises character by character in Python (0.28 MB/s per core here); HF ``tokenizers``
configured to give the same tokens reaches ~1.2 MB/s without and 0.47 MB/s with the whole-word
marking, its normaliser being the bottleneck on Chinese text (bench/token_ids_speed.py). This module instead derives, once per
tokenizer, what each of the 1,114,112 code points becomes under the tokenizer's own rules
(paddlenlp's ``_is_control`` / ``_is_whitespace`` / ``_is_punctuation`` / ``_is_symbol`` /
``_is_chinese_char``, Python's ``str.lower`` and NFD accent stripping), and hands the tables and
the vocabulary to the C++ tokenizer. The rules are per character except in two places, which are
left to paddlenlp: Python's final-sigma lower-casing, and combining marks that NFD's canonical
reordering could move past a neighbour. A document holding such a character, the literal text of a
special token (paddlenlp splits those out before anything else; in the whole-word path also where the
segmenter cut it, ``[ SEP ]``, as the words are joined) or a lone surrogate is tokenised by
paddlenlp itself (:class:`~ernie_pipeline.tokenize.encoder.DocumentEncoder`), so the ids are the same in every case.

The tables and vocabulary are saved once per tokenizer (:class:`TokenizerTables`, the
``tokenizer_tables`` rule), so that a shard's job does not import paddlenlp.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ernie_pipeline.io.atomic import atomic_path
from ernie_pipeline.tokenize.tokenizer import load_tokenizer, vocab_fingerprint
from ernie_pipeline.tokenize.token_files import write_npz

# What a code point becomes: the values of the C++ enum Kind in _wordpiece.cpp.
DROP, SPACE, JOIN, ISOLATE, MAPPED, COMPLEX = range(6)

_CONTEXTS = ("a{}", "{}a", "a{} ", "{}\u0301a")  # where a context-dependent lower() shows itself


def _lower_depends_on_context(char: str) -> bool:
    alone = char.lower()
    for context in _CONTEXTS:
        head, tail = context.split("{}")
        lowered = context.format(char).lower()
        if lowered[len(head.lower()) : len(lowered) - len(tail.lower())] != alone:
            return True
    return False


def code_point_tables(tokenizer) -> tuple[np.ndarray, dict[int, list[tuple[int, int]]]]:
    """``kinds`` (uint8 per code point) and ``mapped`` (code point -> units) for ``tokenizer``.

    The steps follow ``PretrainedTokenizer.tokenize`` (lower-cases the text when ``do_lower_case``)
    and ``BasicTokenizer.tokenize`` (clean text, isolate CJK, split on whitespace, lower-case and
    strip accents per token, isolate punctuation and symbols, split on whitespace again).
    """
    from paddlenlp.transformers.tokenizer_utils import _is_control, _is_punctuation, _is_symbol, _is_whitespace

    basic = tokenizer.basic_tokenizer
    lower_text = bool(getattr(tokenizer, "do_lower_case", False))
    lower_tokens = bool(basic.do_lower_case)
    strip = basic.strip_accents is not False if lower_tokens else bool(basic.strip_accents)  # BasicTokenizer's rule
    chinese = bool(basic.tokenize_chinese_chars)

    kinds = np.full(0x110000, DROP, dtype=np.uint8)
    mapped: dict[int, list[tuple[int, int]]] = {}
    for cp in range(0x110000):
        char = chr(cp)
        category = unicodedata.category(char)
        if category in ("Cn", "Cs", "Co"):
            continue  # unassigned, surrogate, private use: controls to _clean_text, dropped
        lowered = char.lower() if lower_text else char
        if (lower_text or lower_tokens) and lowered != char and _lower_depends_on_context(char):
            kinds[cp] = COMPLEX
            continue
        units: list[tuple[int, int]] = []
        context_free = True
        for c in lowered:
            if ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c):
                continue
            if _is_whitespace(c):
                units.append((SPACE, 32))
                continue
            isolated = chinese and basic._is_chinese_char(ord(c))
            token = c.lower() if lower_tokens else c
            if strip:
                token = "".join(x for x in unicodedata.normalize("NFD", token) if unicodedata.category(x) != "Mn")
                context_free &= all(unicodedata.combining(x) == 0 for x in token)
            for x in token:
                if _is_punctuation(x) or _is_symbol(x) or isolated:
                    units.append((ISOLATE, ord(x)))
                elif x.isspace():
                    units.append((SPACE, 32))
                else:
                    units.append((JOIN, ord(x)))
            if isolated and len(token) > 1:  # a CJK character that decomposed: one token, not several
                context_free = False
        if not context_free:
            kinds[cp] = COMPLEX
        elif not units:
            kinds[cp] = DROP
        elif units == [(SPACE, 32)]:
            kinds[cp] = SPACE
        elif len(units) == 1 and units[0][1] == cp:
            kinds[cp] = units[0][0]
        else:
            kinds[cp] = MAPPED
            mapped[cp] = units
    return kinds, mapped


def special_token_literals(tokenizer) -> list[str]:
    """Texts that paddlenlp's ``tokenize`` splits out before anything else."""
    return sorted(set(tokenizer.unique_no_split_tokens) | set(tokenizer.all_special_tokens))


def _strings(values) -> np.ndarray:
    return np.array(list(values), dtype=str) if len(values) else np.zeros(0, dtype="<U1")


@dataclass
class TokenizerTables:
    """Everything the compiled tokenizer needs, derived once from a paddlenlp tokenizer and saved as a
    Snakemake artifact, so that a shard's job starts in a second without importing paddlenlp."""

    kinds: np.ndarray
    mapped: dict[int, list[tuple[int, int]]]
    base_vocab: dict[str, int]
    added_vocab: dict[str, int]
    unk_token: str
    unk_id: int
    max_input_chars_per_word: int
    literals: list[str]
    vocab_size: int
    eos_id: int | None
    fingerprint: str

    @classmethod
    def from_tokenizer(cls, tokenizer, fingerprint: str) -> "TokenizerTables":
        kinds, mapped = code_point_tables(tokenizer)
        return cls(kinds, mapped, dict(tokenizer.vocab.token_to_idx), dict(tokenizer.added_tokens_encoder),
                   tokenizer.unk_token, tokenizer.convert_tokens_to_ids(tokenizer.unk_token),
                   tokenizer.wordpiece_tokenizer.max_input_chars_per_word, special_token_literals(tokenizer),
                   tokenizer.vocab_size, tokenizer.eos_token_id, fingerprint)

    def save(self, path: str | Path) -> None:
        """A reproducible npz (no pickles), written under a temporary name and renamed."""
        units = [self.mapped[cp] for cp in sorted(self.mapped)]
        scalars = {"unk_token": self.unk_token, "unk_id": self.unk_id, "vocab_size": self.vocab_size,
                   "max_input_chars_per_word": self.max_input_chars_per_word, "eos_id": self.eos_id,
                   "fingerprint": self.fingerprint, "literals": self.literals, "paddlenlp": _paddlenlp_version()}
        with atomic_path(path) as tmp:
            write_npz(tmp, {
                "kinds": self.kinds,
                "mapped_cps": np.array(sorted(self.mapped), np.int32),
                "mapped_offsets": np.cumsum([0] + [len(u) for u in units]).astype(np.int64),
                "unit_kinds": np.array([k for u in units for k, _ in u], np.uint8),
                "unit_cps": np.array([c for u in units for _, c in u], np.int32),
                "base_tokens": _strings(self.base_vocab),
                "base_ids": np.array(list(self.base_vocab.values()), np.int32),
                "added_tokens": _strings(self.added_vocab),
                "added_ids": np.array(list(self.added_vocab.values()), np.int32),
                "scalars": np.array(json.dumps(scalars, ensure_ascii=False)),
            })

    @classmethod
    def load(cls, path: str | Path) -> "TokenizerTables":
        with np.load(path, allow_pickle=False) as data:
            offsets, unit_kinds, unit_cps = data["mapped_offsets"], data["unit_kinds"], data["unit_cps"]
            mapped = {int(cp): list(zip(unit_kinds[offsets[i] : offsets[i + 1]].tolist(),
                                        unit_cps[offsets[i] : offsets[i + 1]].tolist()))
                      for i, cp in enumerate(data["mapped_cps"])}
            scalars = json.loads(str(data["scalars"]))
            return cls(data["kinds"], mapped, dict(zip(data["base_tokens"].tolist(), data["base_ids"].tolist())),
                       dict(zip(data["added_tokens"].tolist(), data["added_ids"].tolist())), scalars["unk_token"],
                       scalars["unk_id"], scalars["max_input_chars_per_word"], scalars["literals"],
                       scalars["vocab_size"], scalars["eos_id"], scalars["fingerprint"])

    def native(self, whole_word: bool, max_word_length: int, delimiter: str, split_sentences: bool,
               eos_id: int | None):
        """The compiled tokenizer with upstream's options (ImportError when it is not built)."""
        from ernie_pipeline.tokenize import _wordpiece

        assert (_wordpiece.DROP, _wordpiece.MAPPED, _wordpiece.COMPLEX) == (DROP, MAPPED, COMPLEX)
        return _wordpiece.Tokenizer(
            kinds=self.kinds, mapped=self.mapped, base_vocab=self.base_vocab, added_vocab=self.added_vocab,
            unk_token=self.unk_token, unk_id=self.unk_id, max_input_chars_per_word=self.max_input_chars_per_word,
            whole_word=whole_word, max_word_length=max_word_length, delimiter=delimiter,
            split_sentences=split_sentences, eos_id=-1 if eos_id is None else eos_id)


def _paddlenlp_version() -> str:
    from importlib.metadata import version

    return version("paddlenlp")


def build_tables(tokenizer_source: str | Path, out_path: str | Path) -> dict:
    """The compiled tokenizer's tables for ``tokenizer_source``, saved (the ``tokenizer_tables`` rule)."""
    tokenizer = load_tokenizer(tokenizer_source)
    tables = TokenizerTables.from_tokenizer(tokenizer, vocab_fingerprint(tokenizer))
    tables.save(out_path)
    return {"vocab_size": tables.vocab_size, "added": len(tables.added_vocab), "mapped": len(tables.mapped),
            "context_dependent": int((tables.kinds == COMPLEX).sum()), "vocab_sha256": tables.fingerprint}
