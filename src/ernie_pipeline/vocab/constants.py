"""Facts about an ERNIE vocabulary that several stages rely on, each in one place."""

from __future__ import annotations

from typing import Collection

import numpy as np

# vocab.txt's first lines, so ids 0-4 (upstream's merge_vocab.py); paddlenlp's ErnieTokenizer needs all five
SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")

# upstream's "20902 Chinese characters" ([\u4E00-\u9FA5]): all in vocab.txt, given ##X ids by
# extend_chinese_char, and the characters that start a whole word (also is_marking_cjk in _wordpiece.cpp)
CJK_FIRST, CJK_LAST = 0x4E00, 0x9FA5

# Hiragana, Katakana (+ prolonged sound mark and iteration marks), Hangul Jamo, Hangul compatibility Jamo
KANA_HANGUL_RANGES = ((0x3041, 0x3096), (0x309D, 0x309F), (0x30A1, 0x30FF), (0x1100, 0x11FF), (0x3131, 0x318E))
# Halfwidth and Fullwidth Forms that run into kana and Hangul ("から１２"): half-width Katakana, full-width
# digits and letters (not upstream's: ``vocab.fullwidth_twins``)
WIDTH_FORM_RANGES = ((0xFF66, 0xFF9F), (0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))

UINT16_IDS = 2**16  # ids a uint16 token file holds: 0..65535


def is_cjk(char: str) -> bool:
    return len(char) == 1 and CJK_FIRST <= ord(char) <= CJK_LAST


def has_cjk(token: str) -> bool:
    """Whether a token holds a character of the range (upstream's whole-word test)."""
    return any(CJK_FIRST <= ord(c) <= CJK_LAST for c in token)


def is_japanese_korean(char: str) -> bool:
    """Upstream's ``jk_vocab``: kana / CJK symbols and Hangul Jamo, the characters that get a ``##`` twin."""
    code = ord(char)
    return 0x3040 <= code <= 0x33FF or 0x1100 <= code <= 0x11FF


def is_width_form(char: str) -> bool:
    return any(first <= ord(char) <= last for first, last in WIDTH_FORM_RANGES)


def extended_size(tokens: Collection[str]) -> int:
    """Vocabulary size after ``extend_chinese_char`` adds ``##X`` for every CJK char lacking one."""
    present = set(tokens)
    return len(tokens) + sum(1 for t in tokens if is_cjk(t) and "##" + t not in present)


def ids_dtype(vocab_size: int) -> np.dtype:
    """Upstream's choice of the token files' dtype, from the base vocabulary size (the ``##X`` ids on top)."""
    return np.dtype(np.uint16 if vocab_size < UINT16_IDS - 1 else np.int32)


def check_ids_fit(extended_size: int, source: str, remedy: str) -> None:
    """Refuse a vocabulary whose ids, with the ``##X`` extension, overflow a uint16 token file (upstream only
    warns, through a typo that raises AttributeError, and then overflows)."""
    if extended_size > UINT16_IDS:
        raise ValueError(f"{source}: {extended_size:,} ids with the Chinese '##' extension, more than the "
                         f"{UINT16_IDS:,} a uint16 token file holds; {remedy}")
