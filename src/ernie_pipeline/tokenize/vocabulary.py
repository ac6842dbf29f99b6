"""An ERNIE ``vocab.txt`` as paddlenlp's ``ErnieTokenizer`` sees it after ``extend_chinese_char()``, without
paddlenlp: the base tokens in id order, then a ``##X`` id for every CJK character X of the vocabulary that has no
``##X`` token of its own (``vocab_size + k`` for the k-th, in id order). Training reads the token files' ids through
this (the masking vocabulary, the vocabulary's fingerprint), so a process that trains without Paddle (the torch
backend) knows the same ids; ``tests/tokenize`` checks it against paddlenlp's tokenizer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ernie_pipeline.tokenize.tokenizer import check_vocab_file
from ernie_pipeline.vocab.constants import is_cjk


@dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]  # vocab.txt's tokens: token k has id k
    added: tuple[str, ...]  # the '##X' tokens extend_chinese_char adds: id len(tokens) + k

    @classmethod
    def from_folder(cls, folder: str | Path) -> Vocabulary:
        """The vocabulary of a tokenizer folder (its ``vocab.txt``, checked as ``load_tokenizer`` checks it)."""
        path = Path(folder) / "vocab.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no vocab.txt (a tokenizer folder; paddlenlp's built-in names need "
                                    "paddlenlp: the Paddle backend)")
        check_vocab_file(path)
        with open(path, encoding="utf-8") as handle:
            tokens = tuple(line.rstrip("\n") for line in handle)
        present = set(tokens)
        added = tuple(dict.fromkeys("##" + t for t in tokens if is_cjk(t) and "##" + t not in present))
        return cls(tokens, added)

    @cached_property
    def token_to_id(self) -> dict[str, int]:
        return {token: k for k, token in enumerate(self.tokens + self.added)}

    def __len__(self) -> int:
        """The base vocabulary's size (the model's embedding rows; the ##X ids map back onto them)."""
        return len(self.tokens)

    @property
    def fingerprint(self) -> str:
        """sha256 of every token and id the token files depend on (``tokenize.tokenizer.vocab_fingerprint``'s)."""
        digest = hashlib.sha256()
        for index, token in enumerate(self.tokens + self.added):
            digest.update(f"{index}\t{token}\n".encode("utf-8"))
        return digest.hexdigest()
