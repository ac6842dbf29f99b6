"""``vocab.txt``: merge character counts and English BPE pieces (upstream ``merge_vocab.py``).

Order of ``vocab.txt`` (= id order):

1. specials ``[PAD] [CLS] [SEP] [MASK] [UNK]`` (ids 0-4);
2. CJK characters U+4E00-U+9FA5 seen in the corpus, by descending count;
3. the remaining CJK characters of that range, by descending code point (all 20,902 are in);
4. English pieces: word-initial pieces (``▁x``) as ``x``, continuation pieces as ``##x``;
5. every other character seen at least ``min_char_count`` times, BasicTokenizer-normalised, with a
   ``##`` twin for Japanese kana / CJK symbols and Hangul Jamo (upstream's fix for #2585) and, with
   ``fullwidth_twins``, for half-width Katakana and full-width digits and letters;
6. with ``include_kana_hangul``, every kana and Hangul Jamo (as BasicTokenizer leaves them: it splits
   Hangul syllables into Jamo and drops the voicing marks of kana) and, with ``fullwidth_twins``, the
   half-width Katakana and full-width digits and letters, each with its ``##`` twin, seen or not, so that
   runs of Japanese or Korean never collapse to ``[UNK]`` (#2585, #2927).

Chinese ``##X`` forms are not written: the tokenizer adds them at run time
(``ErnieTokenizer.extend_chinese_char``), after the base vocabulary, and token ids are stored as
uint16, so the base vocabulary plus those additions must stay within 65,536 ids.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.vocab.constants import (CJK_FIRST, CJK_LAST, KANA_HANGUL_RANGES, SPECIAL_TOKENS, WIDTH_FORM_RANGES,
                                            check_ids_fit, extended_size, is_cjk, is_japanese_korean, is_width_form)

_RE_ENG = re.compile(r"[#a-zA-Z0-9]")
_RE_SEP = re.compile(r"\[[A-Z]+\]")
_RE_SPM_SPECIAL = re.compile(r"<[/a-z]+>")


class _VocabBuilder:
    def __init__(self, fullwidth_twins: bool = True):
        from paddlenlp.transformers.bert.tokenizer import BasicTokenizer

        self._basic = BasicTokenizer(do_lower_case=True)
        self.fullwidth_twins = fullwidth_twins
        self.tokens: list[str] = []
        self._seen: set[str] = set()

    def normalize(self, token: str) -> str:
        """Upstream's ``normalize_chars``: the BasicTokenizer tokens joined."""
        return "".join(self._basic.tokenize(token))

    def _add(self, token: str) -> None:
        if token not in self._seen:
            self._seen.add(token)
            self.tokens.append(token)

    def add(self, token: str) -> None:
        if _RE_SPM_SPECIAL.fullmatch(token):
            return
        if _RE_ENG.match(token) or _RE_SEP.match(token):
            self._add(token)
            return
        for char in self.normalize(token):
            if char.isspace() or unicodedata.category(char).startswith("C"):
                continue
            self._add(char)
            if is_japanese_korean(char) or (self.fullwidth_twins and is_width_form(char)):
                self._add("##" + char)


def build_vocab(char_counts: dict[str, int], english_pieces: list[str], min_char_count: int,
                include_kana_hangul: bool = True, fullwidth_twins: bool = True) -> list[str]:
    """``vocab.txt``'s tokens; ``include_kana_hangul: false, fullwidth_twins: false, min_char_count: 200`` is
    upstream's ``merge_vocab.py`` (README, "Vocabulary: differences from upstream")."""
    builder = _VocabBuilder(fullwidth_twins)
    for token in SPECIAL_TOKENS:
        builder.add(token)
    by_count = sorted(char_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for char, _ in by_count:
        normalized = builder.normalize(char)  # a CJK compatibility ideograph counts for its unified one
        if is_cjk(normalized):
            builder.add(normalized)
    for code in range(CJK_LAST, CJK_FIRST - 1, -1):
        builder.add(chr(code))
    for piece in english_pieces:
        if _RE_SPM_SPECIAL.fullmatch(piece):
            continue
        builder.add(piece[1:] if piece.startswith("▁") else "##" + piece)
    for char, count in by_count:
        if count >= min_char_count and not is_cjk(char):
            builder.add(char)
    if include_kana_hangul:
        for token in kana_hangul_tokens(fullwidth_twins):
            builder.add(token)
    return builder.tokens


def kana_hangul_tokens(fullwidth_twins: bool = True) -> list[str]:
    """Every kana and Hangul Jamo (and, with ``fullwidth_twins``, every half-width Katakana and full-width
    digit/letter) as BasicTokenizer leaves it, each followed by its ``##`` twin."""
    builder = _VocabBuilder(fullwidth_twins)
    for first, last in KANA_HANGUL_RANGES + (WIDTH_FORM_RANGES if fullwidth_twins else ()):
        for code in range(first, last + 1):
            builder.add(chr(code))
    return builder.tokens


def check_uint16(tokens: list[str], source: str = "vocab") -> None:
    check_ids_fit(extended_size(tokens), source, "lower vocab.eng_vocab_size or raise vocab.min_char_count")


def write_vocab(tokens: list[str], out_path: str | Path) -> None:
    check_uint16(tokens, str(out_path))
    with atomic_write(out_path) as handle:
        handle.writelines(token + "\n" for token in tokens)
