"""The token-id stage's settings (config ``tokenize``), as the job functions take them."""

from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("native", "paddlenlp")


@dataclass(frozen=True)
class TokenizeSettings:
    whole_word: bool = True       # upstream --cn_whole_word_segment
    max_word_length: int = 6      # longest word (in tokens) marked as a whole
    word_delimiter: str = " "     # upstream --cn_split_dimer
    split_sentences: bool = True  # upstream --split_sentences (lines are sentences)
    append_eos: bool = False      # upstream --append_eos
    engine: str = "native"        # native | paddlenlp


def checked_eos_id(eos_token_id: int | None, settings: TokenizeSettings, tokenizer_name: str) -> int | None:
    if not settings.append_eos:
        return None
    if eos_token_id is None:
        raise ValueError(f"tokenize.append_eos: {tokenizer_name} has no eos token")
    return eos_token_id
