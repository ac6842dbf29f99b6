"""Vocabulary scheme 2 (the seed's recommended alternative): BasicTokenizer pre-tokenisation of the
corpus, sentencepiece on the result, special tokens mapped to ERNIE's.

The pre-tokenised text is what ``ErnieTokenizer`` will see before WordPiece (lower case, accents
stripped, every CJK character and punctuation mark its own word), so the pieces sentencepiece
learns are exactly the units WordPiece can match: ``▁x`` (a word start) becomes ``x`` and any other
piece ``x`` becomes ``##x``. ``<unk>`` ``<s>`` ``</s>`` map to ``[UNK]`` ``[CLS]`` ``[SEP]``, and
``[PAD]`` ``[MASK]`` are added, all five first as in scheme 1. As in scheme 1, every CJK character
U+4E00-U+9FA5 and (``include_kana_hangul``) every kana / Hangul Jamo with its ``##`` twin follow
the pieces, so characters the training text lacks are not ``[UNK]``.
"""

from __future__ import annotations

from pathlib import Path

from ernie_pipeline.io.atomic import atomic_write
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.vocab.chars import drawn_documents
from ernie_pipeline.vocab.settings import VocabSettings
from ernie_pipeline.vocab.constants import CJK_FIRST, CJK_LAST, SPECIAL_TOKENS
from ernie_pipeline.vocab.merge import kana_hangul_tokens

SPM_SPECIALS = {"<unk>": "[UNK]", "<s>": "[CLS]", "</s>": "[SEP]", "<pad>": "[PAD]"}


def sample_fraction(paths: list[str | Path], sample_mb: float) -> float:
    """The share of documents that gives about ``sample_mb`` MB of the segmented shards (0 = all)."""
    total = sum(Path(p).stat().st_size for p in paths)
    return 1.0 if sample_mb <= 0 or total <= sample_mb * 1e6 else sample_mb * 1e6 / total


def pretokenize_shards(shards: list[tuple[str, str, str | Path]], out_path: str | Path, vocab: VocabSettings,
                       jsonl: JsonlSettings) -> int:
    """BasicTokenizer-split the sentences of a seeded sample of about ``vocab.scheme2_sample_mb`` MB (0 = all) of
    the ``(dataset, shard, path)`` segmented shards into ``out_path``, a sentence per line, leaving out the
    documents the coverage report holds out (:func:`ernie_pipeline.vocab.chars.drawn_documents` decides
    both, as for scheme 1's counts), so time and memory stay bounded at any corpus size. Returns the lines
    written."""
    from paddlenlp.transformers.bert.tokenizer import BasicTokenizer

    basic = BasicTokenizer(do_lower_case=True)
    held = vocab.heldout_fraction
    kept = sample_fraction([path for _, _, path in shards], vocab.scheme2_sample_mb) * (1 - held)
    lines = 0
    with atomic_write(out_path) as out:
        for dataset, shard, path in shards:
            for draw, text in drawn_documents(path, dataset, shard, jsonl, vocab.seed, "pre-tokenise"):
                if not 0 <= draw - held < kept:
                    continue
                for sentence in text.splitlines():
                    words = basic.tokenize(sentence)
                    if words:
                        out.write(" ".join(words) + "\n")
                        lines += 1
    return lines


def train_scheme2(text_path: str | Path, model_path: str | Path, pieces_path: str | Path, vocab_size: int,
                  model_type: str = "bpe") -> None:
    """sentencepiece on the pre-tokenised text: every character a piece (coverage 1.0), no NFKC
    (the text is already what ErnieTokenizer sees, which does not map "，" to ","), and a soft
    size limit (a small corpus has fewer distinct pieces than a large ``vocab_size`` asks for)."""
    from ernie_pipeline.vocab.sentencepiece_bpe import train_sentencepiece

    try:
        train_sentencepiece(text_path, model_path, pieces_path, vocab_size, character_coverage=1.0,
                            model_type=model_type, hard_vocab_limit=False, normalization="identity")
    except RuntimeError as err:
        if "required_chars" not in str(err):
            raise
        raise ValueError(f"config vocab.scheme2_vocab_size: {vocab_size} is smaller than the number of distinct "
                         f"characters in {text_path}; sentencepiece says: {err}") from None


def vocab_from_pieces(pieces: list[str], include_cjk: bool = True, include_kana_hangul: bool = True,
                      fullwidth_twins: bool = True) -> list[str]:
    """vocab.txt tokens from sentencepiece pieces (see the module docstring)."""
    tokens = list(SPECIAL_TOKENS)
    seen = set(tokens)

    def add(token):
        if token not in seen:
            seen.add(token)
            tokens.append(token)

    for piece in pieces:
        token = SPM_SPECIALS.get(piece)
        if token is None:
            if piece in ("▁", ""):
                continue
            token = piece[1:] if piece.startswith("▁") else "##" + piece
        add(token)
    if include_cjk:
        for code in range(CJK_FIRST, CJK_LAST + 1):
            add(chr(code))
    if include_kana_hangul:
        for token in kana_hangul_tokens(fullwidth_twins):
            add(token)
    return tokens
