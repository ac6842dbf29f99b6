"""Upstream's whole-word ``##`` marking, and the reference conversion of one document with paddlenlp's own
tokenizer (upstream's way; the compiled engine hands it the documents it cannot decide alone)."""

from __future__ import annotations



import ernie_pipeline  # noqa: F401  (system zlib before paddle)
from ernie_pipeline.vocab.constants import has_cjk
from ernie_pipeline.tokenize.settings import TokenizeSettings, checked_eos_id


def split_words(sentence: str, delimiter: str = " ") -> list[str]:
    """Undo the segmenter's join: fields of the sentence, where a second empty field in a row stands
    for a literal delimiter that the segmenter had emitted as a word."""
    words = sentence.split(delimiter)
    for i in range(1, len(words)):
        if words[i - 1] == "" and words[i] == "":
            words[i] = delimiter
    return words


def mark_whole_words(tokens: list[str], words: set[str], max_word_length: int = 6) -> list[str]:
    """Upstream's ``get_whole_word_mask_tokens``: prefix ``##`` to the non-initial tokens of each
    segmented word that starts at a Chinese token (longest match first)."""
    marked: list[str] = []
    i = 0
    while i < len(tokens):
        if not has_cjk(tokens[i]):
            marked.append(tokens[i])
            i += 1
            continue
        for length in range(min(max_word_length, len(tokens) - i), 0, -1):
            if "".join(tokens[i : i + length]) in words:
                marked.append(tokens[i])
                marked.extend("##" + t for t in tokens[i + 1 : i + length])
                i += length
                break
        else:
            marked.append(tokens[i])
            i += 1
    return marked


class ReferenceConverter:
    """Upstream's ``Converter.encode`` on paddlenlp's tokenizer: document text → sentence id lists."""

    def __init__(self, tokenizer, settings: TokenizeSettings = TokenizeSettings()):
        self.tokenizer = tokenizer
        self.settings = settings
        self.eos_id = checked_eos_id(tokenizer.eos_token_id, settings, type(tokenizer).__name__)

    def sentence_ids(self, sentence: str) -> list[int]:
        s = self.settings
        if not s.whole_word:
            return self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(sentence))
        words = split_words(sentence, s.word_delimiter)
        tokens = self.tokenizer.tokenize("".join(words))
        return self.tokenizer.convert_tokens_to_ids(mark_whole_words(tokens, set(words), s.max_word_length))

    def document_ids(self, text: str) -> list[list[int]]:
        sentences = text.split("\n") if self.settings.split_sentences else [text]
        ids = [i for i in map(self.sentence_ids, sentences) if i]
        if ids and self.eos_id is not None:
            ids[-1].append(self.eos_id)
        return ids
