"""paddlenlp's ``ErnieTokenizer`` + upstream's whole-word ``##`` marking, compiled (``_wordpiece``).

paddlenlp tokenises character by character in Python (~0.2-0.3 MB/s per core); HF ``tokenizers``
configured to give the same ids reaches ~1 MB/s here, its normaliser being the bottleneck on
Chinese text (bench/token_ids_speed.py measures both). This module instead derives, once per
tokenizer, what each of the 1,114,112 code points becomes under the tokenizer's own rules
(paddlenlp's ``_is_control`` / ``_is_whitespace`` / ``_is_punctuation`` / ``_is_symbol`` /
``_is_chinese_char``, Python's ``str.lower`` and NFD accent stripping), and hands the tables and
the vocabulary to the C++ tokenizer. The rules are per character except in two places, which are
left to paddlenlp: Python's final-sigma lower-casing, and combining marks that NFD's canonical
reordering could move past a neighbour. A document holding such a character, or the literal text
of a special token (paddlenlp splits those out before anything else), is tokenised by paddlenlp
itself, so the ids are the same in every case.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from ernie_pipeline import _wordpiece

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
    strip = basic.strip_accents if basic.strip_accents is not None else lower_tokens
    if lower_tokens and basic.strip_accents is False:
        strip = False
    chinese = bool(basic.tokenize_chinese_chars)

    kinds = np.full(0x110000, _wordpiece.DROP, dtype=np.uint8)
    mapped: dict[int, list[tuple[int, int]]] = {}
    for cp in range(0x110000):
        char = chr(cp)
        category = unicodedata.category(char)
        if category in ("Cn", "Cs", "Co"):
            continue  # unassigned, surrogate, private use: controls to _clean_text, dropped
        lowered = char.lower() if lower_text else char
        if (lower_text or lower_tokens) and lowered != char and _lower_depends_on_context(char):
            kinds[cp] = _wordpiece.COMPLEX
            continue
        units: list[tuple[int, int]] = []
        context_free = True
        for c in lowered:
            if ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c):
                continue
            if _is_whitespace(c):
                units.append((_wordpiece.SPACE, 32))
                continue
            isolated = chinese and basic._is_chinese_char(ord(c))
            token = c.lower() if lower_tokens else c
            if strip:
                token = "".join(x for x in unicodedata.normalize("NFD", token) if unicodedata.category(x) != "Mn")
                context_free &= all(unicodedata.combining(x) == 0 for x in token)
            for x in token:
                if _is_punctuation(x) or _is_symbol(x) or isolated:
                    units.append((_wordpiece.ISOLATE, ord(x)))
                elif x.isspace():
                    units.append((_wordpiece.SPACE, 32))
                else:
                    units.append((_wordpiece.JOIN, ord(x)))
            if isolated and len(token) > 1:  # a CJK character that decomposed: one token, not several
                context_free = False
        if not context_free:
            kinds[cp] = _wordpiece.COMPLEX
        elif not units:
            kinds[cp] = _wordpiece.DROP
        elif units == [(_wordpiece.SPACE, 32)]:
            kinds[cp] = _wordpiece.SPACE
        elif len(units) == 1 and units[0][1] == cp:
            kinds[cp] = units[0][0]
        else:
            kinds[cp] = _wordpiece.MAPPED
            mapped[cp] = units
    return kinds, mapped


def special_token_literals(tokenizer) -> list[str]:
    """Texts that paddlenlp's ``tokenize`` splits out before anything else."""
    return sorted(set(tokenizer.unique_no_split_tokens) | set(tokenizer.all_special_tokens))


def native_tokenizer(tokenizer, whole_word: bool, max_word_length: int, delimiter: str, split_sentences: bool,
                     eos_id: int | None):
    """The compiled tokenizer for a loaded paddlenlp ``ErnieTokenizer`` (``extend_chinese_char`` done)."""
    kinds, mapped = code_point_tables(tokenizer)
    return _wordpiece.Tokenizer(
        kinds=kinds,
        mapped=mapped,
        base_vocab=dict(tokenizer.vocab.token_to_idx),
        added_vocab=dict(tokenizer.added_tokens_encoder),
        unk_token=tokenizer.unk_token,
        unk_id=tokenizer.convert_tokens_to_ids(tokenizer.unk_token),
        max_input_chars_per_word=tokenizer.wordpiece_tokenizer.max_input_chars_per_word,
        whole_word=whole_word,
        max_word_length=max_word_length,
        delimiter=delimiter,
        split_sentences=split_sentences,
        eos_id=-1 if eos_id is None else eos_id,
    )
