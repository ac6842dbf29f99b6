"""The text the clean stage compares: Unicode NFKC (full-width forms to ASCII, compatibility ideographs to their
unified forms, ligatures split; Python's ``unicodedata``, Unicode 14.0 on Python 3.11), then every whitespace
character (``str.isspace``: spaces, tabs, line breaks, ideographic and no-break spaces) removed. Case is kept.

The segmented shards are the input (what the token files are made of): the segmenter's word separators and
line breaks are whitespace, so a document normalises to its raw text's normalised form, whatever segmenter
made it. Lines are the segmented sentences.

``unicodedata.normalize`` runs at ~20 MB/s, half the clean stage's time. The compiled fast path gives the same
text from per-code-point tables derived here from ``unicodedata``: NFKC of a text is the concatenation of its
characters' NFKC whenever no character's compatibility decomposition holds a combining mark (canonical class
> 0) or a character that composes with the one before it (the second of a canonical pair, Hangul medial and
final jamo); then nothing reorders or composes across characters. A document holding one takes the reference
path (``unicodedata`` itself). Both paths agree (tests/clean/test_normalise.py).
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np

from ernie_pipeline.clean import _signatures

_KEEP, _WHITESPACE, _NEWLINE, _MAPPED, _UNSAFE = range(5)  # the kernel's Kind
_HANGUL_MEDIAL_FINAL = (*range(0x1161, 0x1176), *range(0x11A8, 0x11C3))


def reference_lines(text: str) -> list[str]:
    """The document's lines (sentences), each normalised; empty lines left out (``unicodedata``'s NFKC)."""
    lines = ("".join(line.split()) for line in unicodedata.normalize("NFKC", text).split("\n"))
    return [line for line in lines if line]


@functools.cache
def _normaliser() -> _signatures.Normaliser:
    """The kernel's tables: each code point kept, dropped (whitespace), a line break, mapped to its NFKC, or
    unsafe (see the module's docstring)."""
    second_of_pair = set(_HANGUL_MEDIAL_FINAL)
    decomposable = []
    for cp in range(0x110000):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition:
            decomposable.append(cp)
            parts = decomposition.split()
            if not parts[0].startswith("<") and len(parts) == 2:
                second_of_pair.add(int(parts[1], 16))

    def composes_backward(char: str) -> bool:
        return unicodedata.combining(char) != 0 or ord(char) in second_of_pair

    kinds = np.zeros(0x110000, np.uint8)
    for cp in range(0x110000):
        char = chr(cp)
        if char.isspace():
            kinds[cp] = _WHITESPACE
        elif composes_backward(char):
            kinds[cp] = _UNSAFE
    kinds[ord("\n")] = _NEWLINE
    index = np.full(0x110000, -1, np.int32)
    replacements: list[str] = []
    for cp in decomposable:
        char = chr(cp)
        if kinds[cp] != _KEEP:
            continue
        normalised = unicodedata.normalize("NFKC", char)
        if "\n" in normalised or any(map(composes_backward, unicodedata.normalize("NFKD", char))):
            kinds[cp] = _UNSAFE
        elif normalised != char:
            kinds[cp] = _MAPPED
            index[cp] = len(replacements)
            replacements.append("".join(normalised.split()))
    starts = np.cumsum([0] + [len(r) for r in replacements], dtype=np.int64)
    mapped = np.array([ord(c) for r in replacements for c in r], np.uint32)
    return _signatures.Normaliser(kinds, index, starts, mapped)


def normalised_lines(text: str) -> list[str]:
    """:func:`reference_lines`, through the compiled tables where they apply."""
    lines = _normaliser().lines(text)
    return reference_lines(text) if lines is None else lines


def normalise(text: str) -> str:
    """The document's normalised text (its normalised lines joined)."""
    return "".join(normalised_lines(text))
