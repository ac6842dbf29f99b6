"""Coverage report of a vocabulary on held-out documents: how much text becomes ``[UNK]``, by script.

The documents are tokenised the way ``ErnieTokenizer`` does (BasicTokenizer, then WordPiece); each
basic token is attributed to the script of its first character, so the report shows which kinds of
text the vocabulary misses (upstream #2585 / #2927: runs of Japanese or Korean became ``[UNK]``).
"""

from __future__ import annotations

import collections
import json
import unicodedata
from pathlib import Path

from ernie_pipeline.io.atomic import atomic_outputs
from ernie_pipeline.corpus.readers import jsonl_text

SCRIPTS = ("Han", "Latin", "digits", "punctuation", "Hiragana/Katakana", "Hangul", "emoji", "other")
TOP_UNK_STRINGS = 30


def script_of(char: str) -> str:
    """The report's bucket for one character."""
    code = ord(char)
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x3134F or 0xF900 <= code <= 0xFAFF:
        return "Han"
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F:
        return "Hiragana/Katakana"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "Hangul"
    if 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF:
        return "emoji"
    category = unicodedata.category(char)
    if category == "Nd":
        return "digits"
    if category.startswith("P"):
        return "punctuation"
    if category.startswith("L") and unicodedata.name(char, "").startswith("LATIN"):
        return "Latin"
    return "other"


def measure(texts, tokenizer) -> dict:
    """Token, ``[UNK]`` and character counts per script, and the strings that became ``[UNK]``."""
    unk = tokenizer.unk_token
    per_script = {name: {"characters": 0, "tokens": 0, "unk_tokens": 0} for name in SCRIPTS}
    unk_strings: collections.Counter = collections.Counter()
    for text in texts:
        for word in tokenizer.basic_tokenizer.tokenize(text):
            pieces = tokenizer.wordpiece_tokenizer.tokenize(word)
            bucket = per_script[script_of(word[0])]
            bucket["characters"] += len(word)
            bucket["tokens"] += len(pieces)
            unknown = pieces.count(unk)
            bucket["unk_tokens"] += unknown
            if unknown:
                unk_strings[word] += 1
    totals = {key: sum(b[key] for b in per_script.values()) for key in ("characters", "tokens", "unk_tokens")}
    for bucket in (*per_script.values(), totals):
        bucket["unk_rate"] = bucket["unk_tokens"] / bucket["tokens"] if bucket["tokens"] else 0.0
        bucket["tokens_per_char"] = bucket["tokens"] / bucket["characters"] if bucket["characters"] else 0.0
    return {"overall": totals, "scripts": per_script,
            "top_unk_strings": [[s, n] for s, n in sorted(unk_strings.items(), key=lambda kv: (-kv[1], kv[0]))
                                [:TOP_UNK_STRINGS]]}


def read_texts(jsonl_paths: list[str | Path], json_key: str = "text"):
    for path in jsonl_paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                yield jsonl_text(line, json_key, path, number)


def write_report(report: dict, json_path: str | Path, tsv_path: str | Path, plot_path: str | Path) -> None:
    """The report as JSON, a TSV (one row per script + overall) and a bar chart of [UNK] rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [*report["scripts"].items(), ("overall", report["overall"])]
    with atomic_outputs(json_path, tsv_path, plot_path) as (tmp_json, tmp_tsv, tmp_plot):
        tmp_json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        lines = ["script\tcharacters\ttokens\tunk_tokens\tunk_rate\ttokens_per_char"]
        lines += [f"{name}\t{b['characters']}\t{b['tokens']}\t{b['unk_tokens']}\t{b['unk_rate']:.6f}\t"
                  f"{b['tokens_per_char']:.4f}" for name, b in rows]
        tmp_tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        figure, axis = plt.subplots(figsize=(8, 3.5))
        names = [name for name, _ in rows]
        axis.bar(names, [100 * b["unk_rate"] for _, b in rows], color="#4477aa")
        for x, (_, b) in enumerate(rows):
            axis.annotate(f"{b['tokens']:,} tok", (x, 0), textcoords="offset points", xytext=(0, 3),
                          ha="center", fontsize=7, rotation=90)
        axis.set_ylabel("[UNK] tokens, %")
        axis.set_title(f"Vocabulary coverage on held-out text: {100 * report['overall']['unk_rate']:.4f}% [UNK]")
        axis.tick_params(axis="x", labelrotation=30, labelsize=8)
        figure.tight_layout()
        # PNG metadata carries the matplotlib version and no date: the same report, the same bytes
        figure.savefig(tmp_plot, format="png", dpi=100, metadata={"Software": None})
        plt.close(figure)
