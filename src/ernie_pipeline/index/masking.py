"""ERNIE training samples: sentence-order pairs, truncation and whole-word / n-gram masking.

A re-creation of upstream's ``build_training_sample`` / ``create_masked_lm_predictions``
(Megatron's algorithm plus PaddleNLP's Chinese ``##`` handling), as pure functions of the token ids
and a ``numpy.random.RandomState`` seeded with ``seed + sample_index``: the same sample index gives
the same sample in any process, worker or resume.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from ernie_pipeline.vocab.constants import is_cjk


@dataclass(frozen=True)
class Vocab:
    """What masking needs to know about the tokenizer's ids."""

    cls_id: int
    sep_id: int
    mask_id: int
    pad_id: int
    size: int  # base vocabulary size; random replacements are drawn from [0, size)
    is_continuation: np.ndarray  # bool per id (base + added): token starts with '##'
    to_base: np.ndarray  # int per id: '##X' Chinese ids → id of 'X', others unchanged

    @classmethod
    def from_vocabulary(cls, vocabulary) -> "Vocab":
        """From a :class:`ernie_pipeline.tokenize.vocabulary.Vocabulary` (vocab.txt read without paddlenlp): the same
        as :meth:`from_tokenizer` gives for its tokenizer."""
        ids = vocabulary.token_to_id
        total = len(vocabulary.tokens) + len(vocabulary.added)
        is_continuation = np.zeros(total, dtype=bool)
        to_base = np.arange(total, dtype=np.int64)
        for token, idx in ids.items():
            if token.startswith("##"):
                is_continuation[idx] = True
                if is_cjk(token[2:]) and token[2:] in ids and ids[token[2:]] < len(vocabulary.tokens):
                    to_base[idx] = ids[token[2:]]
        return cls(cls_id=ids["[CLS]"], sep_id=ids["[SEP]"], mask_id=ids["[MASK]"], pad_id=ids["[PAD]"],
                   size=len(vocabulary.tokens), is_continuation=is_continuation, to_base=to_base)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "Vocab":
        """From a paddlenlp ErnieTokenizer on which ``extend_chinese_char()`` has been called."""
        id_to_token = dict(tokenizer.vocab.idx_to_token)
        id_to_token.update(tokenizer.added_tokens_decoder)
        total = max(id_to_token) + 1
        is_continuation = np.zeros(total, dtype=bool)
        to_base = np.arange(total, dtype=np.int64)
        token_to_id = tokenizer.vocab.token_to_idx
        for idx, token in id_to_token.items():
            if token.startswith("##"):
                is_continuation[idx] = True
                bare = token[2:]
                if is_cjk(bare) and bare in token_to_id:
                    to_base[idx] = token_to_id[bare]
        return cls(
            cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id,
            mask_id=tokenizer.mask_token_id, pad_id=tokenizer.pad_token_id,
            size=len(tokenizer.vocab), is_continuation=is_continuation, to_base=to_base,
        )


def a_and_b_segments(sentences: list[np.ndarray], rng: np.random.RandomState):
    """Split a document's sentences into A and B; swap them with probability 0.5 (SOP label 1)."""
    n = len(sentences)
    if n < 2:
        raise ValueError("sentence-order pairs need at least 2 sentences")
    a_end = 1 if n < 3 else rng.randint(1, n)
    tokens_a = [t for s in sentences[:a_end] for t in s.tolist()]
    tokens_b = [t for s in sentences[a_end:] for t in s.tolist()]
    swapped = rng.random_sample() < 0.5
    if swapped:
        tokens_a, tokens_b = tokens_b, tokens_a
    return tokens_a, tokens_b, swapped


def truncate_segments(tokens_a: list, tokens_b: list, max_tokens: int, rng: np.random.RandomState) -> None:
    """Trim the longer segment (B on ties) from a random end until both fit ``max_tokens``."""
    if not tokens_a:
        raise ValueError("segment A is empty")
    while len(tokens_a) + len(tokens_b) > max_tokens:
        tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random_sample() < 0.5:
            del tokens[0]
        else:
            tokens.pop()


def masked_lm_predictions(tokens: list[int], vocab: Vocab, max_predictions: float, rng: np.random.RandomState,
                          settings: MaskingSettings, ngram_sizes: list[tuple[int, int]] | None = None):
    """Whole-word n-gram masking with BERT's 80/10/10 replacement: ``settings.masked_lm_prob`` of the tokens, at
    most ``max_predictions``.

    The n of each masked n-gram (in whole words) is drawn with probability proportional to 1/n
    (reversed by ``settings.favor_longer_ngram``), or from a geometric distribution (p=0.2) capped at
    ``settings.max_ngrams`` with ``settings.geometric_dist``, and shortened when it would exceed the budget.
    Returns ``(input_ids, masked_positions, masked_labels)``; ``##X`` Chinese ids are mapped to ``X``
    in both the input and the labels, so every returned id is a base-vocabulary id. ``ngram_sizes``,
    when given, receives ``(n drawn, words masked)`` for every masked n-gram.
    """
    masked_lm_prob, max_ngrams = settings.masked_lm_prob, settings.max_ngrams
    words: list[list[int]] = []
    for i, token in enumerate(tokens):
        if token in (vocab.cls_id, vocab.sep_id):
            continue
        if words and vocab.is_continuation[token]:
            words[-1].append(i)
        else:
            words.append([i])
    output = vocab.to_base[np.asarray(tokens, dtype=np.int64)].tolist()
    base = list(output)
    num_to_predict = min(max_predictions, max(1, int(round(len(tokens) * masked_lm_prob))))

    ngrams = np.arange(1, max_ngrams + 1, dtype=np.int64)
    pvals = 1.0 / ngrams
    pvals /= pvals.sum()
    if settings.favor_longer_ngram:
        pvals = pvals[::-1]
    # the cumulative distributions RandomState.choice(ngrams[:k], p=p/p.sum()) builds for each k; drawing from
    # them with bisect and one random_sample() is that call exactly (the same number, the same stream), 10x faster
    cdfs = []
    for k in range(1, max_ngrams + 1):
        p = pvals[:k] / pvals[:k].sum()
        cdf = p.cumsum()
        cdf /= cdf[-1]
        cdfs.append(cdf.tolist())
    candidates = [[words[w : w + n] for n in ngrams] for w in range(len(words))]
    rng.shuffle(candidates)

    covered: set[int] = set()
    masked: list[tuple[int, int]] = []
    for spans in candidates:
        if len(masked) >= num_to_predict:
            break
        if not spans:
            continue
        if settings.geometric_dist:
            n = min(rng.geometric(0.2), max_ngrams)
        else:
            n = bisect.bisect_right(cdfs[len(spans) - 1], rng.random_sample()) + 1
        drawn = n
        indexes = sum(spans[n - 1], [])
        n -= 1
        while len(masked) + len(indexes) > num_to_predict and n > 0:
            indexes = sum(spans[n - 1], [])
            n -= 1
        if len(masked) + len(indexes) > num_to_predict or any(i in covered for i in indexes):
            continue
        if ngram_sizes is not None:
            ngram_sizes.append((int(drawn), len(spans[n])))  # used: fewer words when over budget or at the end
        for index in indexes:
            covered.add(index)
            if rng.random_sample() < 0.8:
                replacement = vocab.mask_id
            elif rng.random_sample() < 0.5:
                replacement = base[index]
            else:
                replacement = int(rng.randint(0, vocab.size))
            output[index] = replacement
            masked.append((index, base[index]))
    masked.sort()
    return output, [m[0] for m in masked], [m[1] for m in masked]


@dataclass(frozen=True)
class MaskingSettings:
    """How a sample is made from a sample-map row (config ``train``: its sample and masking keys)."""

    max_seq_len: int
    binary_head: bool  # sentence-order pairs (A, B) and the SOP label; else one segment
    masked_lm_prob: float
    max_ngrams: int
    favor_longer_ngram: bool
    geometric_dist: bool


def build_sample(sentences: list[np.ndarray], target_len: int, vocab: Vocab, rng: np.random.RandomState,
                 settings: MaskingSettings) -> dict:
    """One padded training sample from a document's sentences (see module docstring)."""
    max_seq_len, masked_lm_prob = settings.max_seq_len, settings.masked_lm_prob
    if settings.binary_head:
        tokens_a, tokens_b, swapped = a_and_b_segments(sentences, rng)
    else:
        tokens_a, tokens_b, swapped = [t for s in sentences for t in s.tolist()], [], False
    truncate_segments(tokens_a, tokens_b, target_len, rng)
    tokens = [vocab.cls_id] + tokens_a + [vocab.sep_id]
    token_types = [0] * len(tokens)
    if tokens_b:
        tokens += tokens_b + [vocab.sep_id]
        token_types += [1] * (len(tokens_b) + 1)
    input_ids, positions, labels = masked_lm_predictions(
        tokens, vocab, masked_lm_prob * target_len, rng, settings)
    length = len(input_ids)
    if length > max_seq_len:
        raise ValueError(f"sample of {length} tokens exceeds max_seq_len={max_seq_len}")
    pad = max_seq_len - length
    attention = np.zeros((1, 1, max_seq_len), dtype=np.float32)
    attention[..., length:] = -1e4  # additive mask, as upstream
    return {
        "input_ids": np.asarray(input_ids + [vocab.pad_id] * pad, dtype=np.int64),
        "token_type_ids": np.asarray(token_types + [vocab.pad_id] * pad, dtype=np.int64),
        "attention_mask": attention,
        "masked_positions": positions,
        "masked_labels": labels,
        "sop_label": int(swapped),
    }


def collate(samples: list[dict], pad_to_multiple: int = 8) -> dict:
    """Stack samples; flatten masked positions to ``row * seq_len + pos`` (padded with 0 / label -1)."""
    seq_len = samples[0]["input_ids"].shape[0]
    positions = [r * seq_len + p for r, s in enumerate(samples) for p in s["masked_positions"]]
    labels = [label for s in samples for label in s["masked_labels"]]
    padded = -(-len(positions) // pad_to_multiple) * pad_to_multiple
    positions += [0] * (padded - len(positions))
    labels += [-1] * (padded - len(labels))
    return {
        "input_ids": np.stack([s["input_ids"] for s in samples]),
        "token_type_ids": np.stack([s["token_type_ids"] for s in samples]),
        "attention_mask": np.stack([s["attention_mask"] for s in samples]),
        "masked_positions": np.asarray(positions, dtype=np.int32),
        "masked_labels": np.asarray(labels, dtype=np.int64).reshape(-1, 1),
        "sop_labels": np.asarray([s["sop_label"] for s in samples], dtype=np.int64).reshape(-1, 1),
    }
