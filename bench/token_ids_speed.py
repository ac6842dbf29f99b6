"""Token-id speed in MB/s of segmented jsonl per core, exactness on everything, peak memory at 1x/10x.

    .venv/bin/python bench/token_ids_speed.py [--shards 'results/segmented/inews/part-*.json.jsonl'] [--out bench/results/token-ids-speed.md]

Input: the workflow's segmented shards of the sample (``snakemake results/token_ids/inews_ids.npy``
builds them), read as upstream's ``create_pretraining_data.py`` reads its jsonl. One process, one
thread (HF tokenizers' rayon pool limited to one thread too); set-up (tokenizer load, tables) is
timed apart from the tokenising loop.

Engines, each over every document:
  paddlenlp   upstream's way: ErnieTokenizer.tokenize + get_whole_word_mask_tokens + convert_tokens_to_ids
              (ernie_pipeline.tokenize.whole_word.ReferenceConverter); its ids are the reference
  hf          HF ``tokenizers`` (Rust) configured like ErnieTokenizer (BertNormalizer, BertPreTokenizer plus
              a split on Unicode symbols as paddlenlp's BasicTokenizer does, WordPiece), encode_batch over
              256 documents' sentences, whole-word marking in Python
  native      the pipeline's engine (ernie_pipeline.tokenize.tables, paddlenlp for the few documents it
              hands back), flat arrays as the shard job writes them (turned into lists after the timing)
For each: MB/s and the number of documents whose ids differ from the reference (must be 0 for native).

Memory: ``tokenize_shard`` as the workflow's job runs it (saved tables, no paddlenlp) in a fresh process
on all shards concatenated (1x) and the same text 10 times (10x); peak RSS (VmHWM) of each.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")  # HF tokenizers' thread pool: one core
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import ernie_pipeline  # noqa: E402,F401  (system zlib before paddle)
from ernie_pipeline.tokenize.encoder import DocumentEncoder
from ernie_pipeline.tokenize.tables import build_tables
from ernie_pipeline.tokenize.tokenizer import load_tokenizer
from ernie_pipeline.tokenize.whole_word import ReferenceConverter, mark_whole_words, split_words

REPO = Path(__file__).resolve().parents[1]
MIN_DOC_LENGTH = 10  # config.yaml's jsonl.min_doc_length


def read_documents(paths: list[str]) -> tuple[list[str], int]:
    docs, size = [], 0
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                size += len(line)
                text = json.loads(line)["text"]
                if len(text) > MIN_DOC_LENGTH:
                    docs.append(text)
    return docs, size


def hf_tokenizer(tokenizer):
    """HF tokenizers set up to give ErnieTokenizer's tokens (the ids of the base vocabulary)."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers

    hf = Tokenizer(models.WordPiece(dict(tokenizer.vocab.token_to_idx), unk_token=tokenizer.unk_token,
                                    max_input_chars_per_word=100))
    hf.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                               lowercase=True)
    symbols = r"[\p{S}\x{00AD}\x{00B2}\x{00BA}\x{3007}\x{00B5}\x{00D8}\x{014B}\x{01B1}]"
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer(),
                                                pre_tokenizers.Split(Regex(symbols), "isolated")])
    hf.add_special_tokens([AddedToken(t, normalized=False) for t in tokenizer.all_special_tokens])
    return hf


def run_hf(tokenizer, docs, batch=256):
    """HF encode_batch over the sentences of ``batch`` documents at a time, then upstream's marking."""
    hf = hf_tokenizer(tokenizer)
    vocab = tokenizer.get_vocab()
    unk = vocab[tokenizer.unk_token]
    out = []
    for start in range(0, len(docs), batch):
        sentences = [[split_words(s) for s in text.split("\n")] for text in docs[start : start + batch]]
        encodings = iter(hf.encode_batch(["".join(words) for doc in sentences for words in doc],
                                         add_special_tokens=False))
        for doc in sentences:
            ids = [[vocab.get(t, unk) for t in mark_whole_words(next(encodings).tokens, set(words))] for words in doc]
            out.append([s for s in ids if s])
    return out


def run_native(encoder, docs, batch=256):
    """The encoder's flat outputs (what the shard job writes), batch by batch."""
    return [encoder.encode(docs[start : start + batch]) for start in range(0, len(docs), batch)]


def as_documents(batches):
    """Flat (ids, lens, counts) batches -> documents as sentence id lists, for the comparison."""
    out = []
    for ids, lens, counts in batches:
        token = sentence = 0
        for count in counts:
            doc = []
            for length in lens[sentence : sentence + count]:
                doc.append(ids[token : token + length].tolist())
                token += length
            sentence += count
            out.append(doc)
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork into a child's ru_maxrss across exec
_CHILD = """
import re, sys
import ernie_pipeline
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.settings import schema_defaults
from ernie_pipeline.tokenize.shard import tokenize_shard
stats = tokenize_shard(sys.argv[1], sys.argv[2], sys.argv[3], JsonlSettings.from_config(schema_defaults("jsonl")),
                       tables_path=sys.argv[4])
peak_kb = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)
print(peak_kb, stats["mb_per_s"], stats["tokens"])
"""


def peak_rss(paths: list[str], vocab_dir: str, repeat: int, workdir: Path) -> tuple[float, float, int]:
    """Peak RSS (MB), MB/s and tokens of tokenize_shard over the shards concatenated ``repeat`` times."""
    corpus = workdir / f"x{repeat}.jsonl"
    with open(corpus, "wb") as out:
        for _ in range(repeat):
            for path in paths:
                out.write(Path(path).read_bytes())
    result = subprocess.run([sys.executable, "-c", _CHILD, str(corpus), vocab_dir, str(workdir / f"x{repeat}"),
                             str(workdir / "tables.npz")],
                            capture_output=True, text=True, check=True)
    rss_kb, mb_per_s, tokens = result.stdout.split()[-3:]
    corpus.unlink()
    return int(rss_kb) / 1024, float(mb_per_s), int(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", default="results/segmented/inews/part-*.json.jsonl")
    parser.add_argument("--vocab-dir", default="results/vocab/tokenizer")
    parser.add_argument("--out", default="bench/results/token-ids-speed.md")
    args = parser.parse_args()
    paths = sorted(glob.glob(args.shards))
    if not paths:
        sys.exit(f"no shards match {args.shards}: run `snakemake results/token_ids/inews_ids.npy` first")
    docs, size = read_documents(paths)
    megabytes = size / 1e6
    tokenizer, t_load = timed(lambda: load_tokenizer(args.vocab_dir))
    encoder, t_tables = timed(lambda: DocumentEncoder(tokenizer))
    reference_converter = ReferenceConverter(tokenizer)
    reference, t_ref = timed(lambda: [reference_converter.document_ids(d) for d in docs])
    hf_docs, t_hf = timed(lambda: run_hf(tokenizer, docs))
    native, t_native = timed(lambda: run_native(encoder, docs))
    native = as_documents(native)
    differ = {name: sum(a != b for a, b in zip(result, reference)) for name, result in (("hf", hf_docs), ("native", native))}
    with tempfile.TemporaryDirectory() as tmp:
        build_tables(args.vocab_dir, Path(tmp) / "tables.npz")
        memory = {r: peak_rss(paths, args.vocab_dir, r, Path(tmp)) for r in (1, 10)}

    lines = [
        "# Token ids: speed, exactness, memory",
        "",
        f"`bench/token_ids_speed.py`, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, one thread per process. Input: {len(paths)} segmented shards of the sample, "
        f"{megabytes:.1f} MB of jsonl, {len(docs):,} documents, {sum(len(d) for d in reference):,} sentences.",
        "",
        "| engine | seconds | MB/s per core | x paddlenlp | documents differing from paddlenlp |",
        "|---|---|---|---|---|",
        f"| paddlenlp ErnieTokenizer (upstream's way) | {t_ref:.1f} | {megabytes / t_ref:.2f} | 1.0 | reference |",
        f"| HF tokenizers (same tokens) + marking in Python | {t_hf:.1f} | {megabytes / t_hf:.2f} | {t_ref / t_hf:.1f} | "
        f"{differ['hf']} |",
        f"| native (ernie_pipeline.tokenize.tables) | {t_native:.1f} | {megabytes / t_native:.2f} | {t_ref / t_native:.1f} | "
        f"{differ['native']} ({encoder.reference_documents} handed to paddlenlp) |",
        "",
        f"Set-up: loading the tokenizer (paddlenlp import, extend_chinese_char) {t_load:.1f} s; the native tables "
        f"{t_tables:.1f} s.",
        "",
        "Peak RSS of `tokenize_shard` as the workflow runs it (fresh process, saved tables, paddlenlp not imported):",
        "",
        "| input | MB of jsonl | tokens | peak RSS MB | MB/s |",
        "|---|---|---|---|---|",
        *(f"| sample x{r} | {megabytes * r:.0f} | {memory[r][2]:,} | {memory[r][0]:.0f} | {memory[r][1]:.2f} |"
          for r in (1, 10)),
        "",
        f"Peak RSS 10x / 1x: {memory[10][0] / memory[1][0]:.3f} (+{100 * (memory[10][0] / memory[1][0] - 1):.1f} %).",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
