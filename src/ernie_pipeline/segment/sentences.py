"""Sentence splitting (the seed's ``words_segmentation.py`` rules).

Runs of a terminator collapse to one, and a sentence ends after each of ``。?？;；!！`` and at every
newline. Unlike upstream, closing quotes and brackets that follow a terminator stay with their
sentence (``他说：“好。”`` is one sentence, not ``他说：“好。`` + ``”``).

A sentence longer than ``segment.max_sentence_chars`` (a long stretch without terminators) is cut
into pieces of at most that many characters, each cut after the last comma-like mark or space in
the second half of the piece, else at the limit. LAC does not truncate: its time and memory grow
with a sentence's length (about 40 µs and 10 KB per character), so one unpunctuated 50 MB
document would otherwise stall the job or exhaust memory.
"""

from __future__ import annotations

import re

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
