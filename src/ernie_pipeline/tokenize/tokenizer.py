"""Loading the tokenizer the token ids are made with, and the checks that keep its ids right: a vocab.txt
that would give wrong ids is refused, and token files remember the vocabulary they were made with."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.vocab.constants import SPECIAL_TOKENS, check_ids_fit, extended_size, ids_dtype


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


def check_same_vocabulary(prefix: str | Path, fingerprint: str) -> None:
    """Refuse token files made with another vocabulary than the one of ``fingerprint`` (:func:`vocab_fingerprint`),
    when their stats say so (``<prefix>.stats.json`` of the ``token_ids`` rule; files from elsewhere have none)."""
    stats_path = Path(f"{prefix}.stats.json")
    if not stats_path.is_file():
        return
    made_with = json.loads(stats_path.read_text(encoding="utf-8"))["merge"]["vocab_sha256"]
    if made_with != fingerprint:
        raise ValueError(f"{prefix}_ids.npy was tokenised with another vocabulary than the one training loads "
                         f"(sha256 {made_with[:12]}... in {stats_path}): rebuild the token ids")
