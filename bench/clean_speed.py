"""The clean stage's per-shard jobs: CPU speed per core, against the raw text and against LAC segmentation.

    .venv/bin/python bench/clean_speed.py [--segmented /tmp/cl1/results/segmented/inews]
                                          [--raw /tmp/cl1/data/sample/wudao] [--eval /tmp/cl1/data/sample/eval/inews]
                                          [--repeats 3] [--out bench/results/clean-speed.md]

Inputs: the sample's segmented shards (``<segmented>/*.jsonl``, what ``clean_signatures`` reads), the raw WuDao-format
files they were segmented from (``<raw>/*.json``: their bytes are the "raw text" of the speeds) and the sample's
eval dev/test files (the decontamination table). Default settings throughout: ``schema_defaults("clean")`` and
``schema_defaults("jsonl")`` (config.yaml's defaults).

Measures, in CPU seconds of this one process (``time.process_time``: user + system, so another job on the machine
slows the wall clock, not the figure; each row the best of ``--repeats`` runs):

* the normaliser's one-time table build (``clean.normalise._normaliser()``, 0x110000 code points through
  ``unicodedata``), reported apart and done before anything else is timed;
* ``clean_signatures``: ``shard_signatures`` on every segmented shard, files written (to a temporary folder), in
  MB/s of raw WuDao bytes, of the documents' UTF-8 text and of segmented jsonl bytes per CPU second (the goal:
  >= 10 MB/s of raw text per core);
* its components on the same documents: reading the jsonl (json parse, length filter), the normalisation's
  compiled fast path against the ``unicodedata`` reference, the MinHash kernel (5-shingles x 112 permutations,
  14 band keys), the BLAKE2b-128 exact hash, the repetition kernel (CJK count, repeated 10-grams), the repeated-
  line share (Python), the boilerplate lines (distinct lines in Python + the line-hash kernel);
* ``clean_contamination``: the benchmark n-gram table (``benchmark_passages`` + ``write_table``, once per run) and
  ``shard_contamination`` on every shard;
* LAC segmentation's speed from ``bench/results/segment-speed*.md`` (KB/s of UTF-8 input per core), for the share
  of segmentation's time that the clean stage's per-shard jobs add.

Writes a Markdown report to ``--out`` (with the load average: the figures are CPU time, but a loaded machine still
shares caches and memory bandwidth).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    return time.process_time()


def best_of(fn, repeats: int):
    """(fn's result, best CPU seconds, the wall seconds of that run) over ``repeats`` runs."""
    best, wall, result = float("inf"), 0.0, None
    for _ in range(repeats):
        start_cpu, start_wall = _cpu(), time.perf_counter()
        result = fn()
        cpu = _cpu() - start_cpu
        if cpu < best:
            best, wall = cpu, time.perf_counter() - start_wall
    return result, best, wall


def lac_speeds() -> list[tuple[str, float, float, float]]:
    """(file, LAC one sentence per call, LAC batched, pipeline numpy engine) KB/s from the segment-speed reports."""
    rows = []
    for path in sorted(glob.glob(str(REPO / "bench/results/segment-speed*.md"))):
        text = Path(path).read_text(encoding="utf-8")

        def kbs(label):
            match = re.search(r"^\| " + re.escape(label) + r"[^|]*\| [\d.]+ \| ([\d.]+) \|", text, re.M)
            return float(match.group(1)) if match else float("nan")

        rows.append((Path(path).name, kbs("LAC seg, one sentence per call"), kbs("LAC seg, batch API"),
                     kbs("pipeline, engine numpy")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segmented", default="/tmp/cl1/results/segmented/inews")
    parser.add_argument("--raw", default="/tmp/cl1/data/sample/wudao")
    parser.add_argument("--eval", default="/tmp/cl1/data/sample/eval/inews")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results/clean-speed.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    wall_start = time.perf_counter()

    start = _cpu()
    import ernie_pipeline  # noqa: F401
    from ernie_pipeline.clean import _signatures
    from ernie_pipeline.clean import normalise as normalise_module
    from ernie_pipeline.clean.contamination import benchmark_passages, shard_contamination, write_table
    from ernie_pipeline.clean.settings import CleanSettings
    from ernie_pipeline.clean.signatures import kept_documents, repeated_line_share, shard_signatures
    from ernie_pipeline.corpus.tasks import TaskSettings
    from ernie_pipeline.segment.settings import JsonlSettings
    from ernie_pipeline.settings import schema_defaults
    from ernie_pipeline.vocab.constants import CJK_FIRST, CJK_LAST
    import_cpu = _cpu() - start

    start, start_wall = _cpu(), time.perf_counter()
    normalise_module._normaliser()  # the one-time table build, out of every timing below
    table_cpu, table_wall = _cpu() - start, time.perf_counter() - start_wall
    rss_after_table = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    clean = CleanSettings.from_config(schema_defaults("clean"))
    jsonl = JsonlSettings.from_config(schema_defaults("jsonl"))
    shards = sorted(Path(args.segmented).glob("*.jsonl"))
    raw_files = sorted(Path(args.raw).glob("*.json"))
    if not shards or not raw_files:
        raise SystemExit(f"no shards in {args.segmented} or raw files in {args.raw}")
    raw_bytes = sum(p.stat().st_size for p in raw_files)
    jsonl_bytes = sum(p.stat().st_size for p in shards)
    raw_docs = [d for p in raw_files for d in json.loads(p.read_text(encoding="utf-8"))]
    content_bytes = sum(len(d["content"].encode("utf-8")) for d in raw_docs)
    mb_raw, mb_jsonl, mb_text = raw_bytes / 1e6, jsonl_bytes / 1e6, content_bytes / 1e6

    work = Path(tempfile.mkdtemp(prefix="clean_speed."))
    rows: list[tuple[str, float, float, str]] = []  # (what, cpu s, wall s, note)
    try:
        # --- the signature job, whole -------------------------------------------------------------------------
        def signatures_all():
            out = []
            for shard in shards:
                files = {kind: work / f"{shard.name}.{kind}.{ext}" for kind, ext in
                         (("docs", "npz"), ("minhash", "npy"), ("bands", "npy"))}
                out.append(shard_signatures(shard, files, clean, jsonl))
            return out

        counts, sig_cpu, sig_wall = best_of(signatures_all, args.repeats)
        documents = sum(c["documents"] for c in counts)
        chars = sum(c["chars"] for c in counts)

        # --- its components, on the same documents --------------------------------------------------------------
        texts, read_cpu, read_wall = best_of(lambda: [t for s in shards for t in kept_documents(s, jsonl)],
                                             args.repeats)
        rows.append(("read jsonl (json parse, length filter)", read_cpu, read_wall, f"{len(texts):,} documents"))
        normaliser = normalise_module._normaliser()
        reference_docs = sum(normaliser.lines(t) is None for t in texts)
        normalised, fast_cpu, fast_wall = best_of(lambda: [normalise_module.normalised_lines(t) for t in texts],
                                                  args.repeats)
        rows.append(("normalise: compiled fast path (as the job runs it)", fast_cpu, fast_wall,
                     f"{reference_docs} documents ({reference_docs / len(texts):.1%}) fall back to unicodedata"))
        _, ref_cpu, ref_wall = best_of(lambda: [normalise_module.reference_lines(t) for t in texts], args.repeats)
        rows.append(("normalise: unicodedata reference (for comparison)", ref_cpu, ref_wall,
                     f"{ref_cpu / fast_cpu:.1f}x the fast path"))
        joined, join_cpu, join_wall = best_of(lambda: ["".join(lines) for lines in normalised], args.repeats)
        rows.append(("join lines", join_cpu, join_wall, ""))
        a, b = clean.hash_parameters()
        batches = [joined[i : i + 1024] for i in range(0, len(joined), 1024)]
        shingles = sum(max(len(t) - clean.shingle_chars + 1, 1) for t in joined)
        _, mh_cpu, mh_wall = best_of(lambda: [_signatures.minhash(batch, clean.shingle_chars, a, b, clean.bands)
                                              for batch in batches], args.repeats)
        rows.append((f"MinHash kernel ({clean.shingle_chars}-shingles x {clean.permutations} permutations)", mh_cpu,
                     mh_wall, f"{mh_cpu / (shingles * clean.permutations) * 1e9:.2f} ns per shingle-permutation"))
        _, b2_cpu, b2_wall = best_of(lambda: b"".join(hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest()
                                                      for t in joined), args.repeats)
        rows.append(("BLAKE2b-128 exact hash (encode + hash)", b2_cpu, b2_wall, ""))
        top_n = clean.top_ngram_chars if clean.max_top_ngram_share is not None else 0
        rep_n = clean.repeated_ngram_chars if clean.max_repeated_ngram_share is not None else 0
        _, rep_cpu, rep_wall = best_of(lambda: [_signatures.repetition(batch, CJK_FIRST, CJK_LAST, top_n, rep_n)
                                                for batch in batches], args.repeats)
        rows.append((f"repetition kernel (CJK count, top {top_n}-gram, repeated {rep_n}-grams)", rep_cpu, rep_wall,
                     "top n-gram off by default" if not top_n else ""))
        _, rl_cpu, rl_wall = best_of(lambda: [repeated_line_share(lines, len(t)) for lines, t in zip(normalised, joined)],
                                     args.repeats)
        rows.append(("repeated-line share (Python)", rl_cpu, rl_wall, ""))

        def distinct_lines():
            lines = []
            for doc_lines in normalised:
                lines += sorted({line for line in doc_lines if len(line) >= clean.boilerplate_min_line_chars})
            return lines

        lines, dl_cpu, dl_wall = best_of(distinct_lines, args.repeats)
        rows.append((f"boilerplate: distinct lines >= {clean.boilerplate_min_line_chars} chars (Python)", dl_cpu,
                     dl_wall, f"{len(lines):,} lines"))
        _, lh_cpu, lh_wall = best_of(lambda: _signatures.text_hashes(lines), args.repeats)
        rows.append(("boilerplate: line-hash kernel", lh_cpu, lh_wall, ""))
        parts = sum(r[1] for r in rows if "reference" not in r[0])
        rows.append(("sum of the parts the job runs", parts, float("nan"), ""))
        rows.append(("the job (shard_signatures, files written)", sig_cpu, sig_wall,
                     f"rest (arrays, np.savez, tqdm): {sig_cpu - parts:+.2f} s"))

        # --- the contamination job --------------------------------------------------------------------------------
        task = TaskSettings(train=f"{args.eval}/train.json", dev=f"{args.eval}/dev.json", test=f"{args.eval}/test.json",
                            text_keys=("sentence",), label_key="label", labels=None, max_seq_len=128, max_examples=0)
        table_path = work / "benchmark_ngrams.npz"

        def build_table():
            passages = benchmark_passages({"inews": task}, ())
            return passages, write_table(passages, clean.contamination_ngram_chars, clean.contamination_max_passages,
                                         table_path)

        (passages, table_stats), bt_cpu, bt_wall = best_of(build_table, args.repeats)
        n_passages = sum(len(v) for v in passages.values())
        passage_mb = sum(len(t.encode("utf-8")) for v in passages.values() for t in v) / 1e6

        def contamination_all():
            return [shard_contamination(s, table_path, work / f"{s.name}.contamination.npz", jsonl,
                                        clean.contamination_min_share) for s in shards]

        found, co_cpu, co_wall = best_of(contamination_all, args.repeats)
        contaminated = sum(f["contaminated"] for f in found)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def speeds(cpu):
        return f"{mb_raw / cpu:.1f} | {mb_text / cpu:.1f} | {mb_jsonl / cpu:.1f}"

    lac = lac_speeds()
    reference_lac = next((r for r in lac if r[0] == "segment-speed.md"), lac[0] if lac else None)
    per_shard_cpu = sig_cpu + co_cpu
    lines_out = [
        "# Clean stage, per-shard jobs: speed per core",
        "",
        f"`bench/clean_speed.py --repeats {args.repeats}`; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}. "
        f"Load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in load_after)} (every figure is CPU time of "
        f"this one process, user + system, best of {args.repeats}; wall time alongside). Whole run: "
        f"{time.perf_counter() - wall_start:.0f} s wall, peak RSS {peak_rss / 1e6:.0f} MB.",
        "",
        f"Input: the sample's {len(shards)} segmented shards ({args.segmented}): {documents:,} documents kept, "
        f"{chars:,} normalised characters; {mb_jsonl:.2f} MB of segmented jsonl, segmented from {len(raw_files)} raw "
        f"WuDao-format files of {mb_raw:.2f} MB ({args.raw}; their documents' `content` is {mb_text:.2f} MB of "
        f"UTF-8 text). Settings: `schema_defaults(\"clean\")` ({clean.shingle_chars}-shingles, {clean.bands} bands "
        f"x {clean.rows} rows, exact, quality filters and boilerplate lines on).",
        "",
        "## The one-time normaliser table",
        "",
        f"- `clean.normalise._normaliser()` (per job process, once): **{table_cpu:.2f} s CPU** ({table_wall:.2f} s "
        f"wall), peak RSS after it {rss_after_table / 1e6:.0f} MB; importing the package and numpy before it: "
        f"{import_cpu:.2f} s CPU.",
        f"- per job, on a shard of the sample's size ({mb_raw / len(shards):.1f} MB raw) that is "
        f"{table_cpu / (sig_cpu / len(shards)):.1f}x the shard's own signature time; on a 100 MB raw shard "
        f"{table_cpu / (sig_cpu * 100 / mb_raw):.0%} of it.",
        "",
        "## Throughput per core (excluding the table build)",
        "",
        "| job | CPU s | wall s | MB/s raw WuDao bytes | MB/s document text (UTF-8) | MB/s segmented jsonl |",
        "|---|---|---|---|---|---|",
        f"| clean_signatures (`shard_signatures`, 4 shards) | {sig_cpu:.2f} | {sig_wall:.2f} | {speeds(sig_cpu)} |",
        f"| clean_contamination (`shard_contamination`, 4 shards) | {co_cpu:.2f} | {co_wall:.2f} | {speeds(co_cpu)} |",
        f"| both per-shard jobs | {per_shard_cpu:.2f} | {sig_wall + co_wall:.2f} | {speeds(per_shard_cpu)} |",
        "",
        f"- goal >= 10 MB/s of raw text per core: signatures **{mb_raw / sig_cpu:.1f} MB/s** "
        f"({'met' if mb_raw / sig_cpu >= 10 else 'NOT met'}); both per-shard jobs together "
        f"{mb_raw / per_shard_cpu:.1f} MB/s; with the table build counted once per shard job of this size "
        f"{mb_raw / (sig_cpu + table_cpu * len(shards)):.1f} MB/s (signatures alone).",
        f"- {documents / sig_cpu:,.0f} documents/s and {chars / sig_cpu / 1e6:.1f} M normalised characters/s per core "
        "(signatures).",
        "",
        "## Where the signature job's time goes",
        "",
        "| component | CPU s | wall s | share of the job | MB/s raw | note |",
        "|---|---|---|---|---|---|",
    ]
    for what, cpu, wall, note in rows:
        wall_text = "-" if wall != wall else f"{wall:.3f}"
        lines_out.append(f"| {what} | {cpu:.3f} | {wall_text} | {cpu / sig_cpu:.0%} | {mb_raw / cpu:.0f} | {note} |")
    lines_out += [
        "",
        "## The contamination job",
        "",
        f"- the table (`benchmark_passages` + `write_table`, the `clean_benchmark_ngrams` job, once per run): "
        f"{n_passages:,} passages ({passage_mb:.1f} MB) of inews dev/test, {table_stats['distinct_ngrams']:,} distinct "
        f"{clean.contamination_ngram_chars}-grams ({table_stats['template_ngrams']:,} template n-grams left out): "
        f"{bt_cpu:.2f} s CPU ({passage_mb / bt_cpu:.1f} MB/s of passage text).",
        f"- `shard_contamination` on the 4 shards: {co_cpu:.2f} s CPU, {mb_raw / co_cpu:.1f} MB/s raw per core; "
        f"{contaminated} documents hold >= {clean.contamination_min_share:.0%} of a dev/test passage's n-grams.",
        f"- it reads and normalises every document again: the read and normalisation parts of the signature job "
        f"({read_cpu + fast_cpu:.2f} s) are {(read_cpu + fast_cpu) / co_cpu:.0%} of the contamination job's time.",
        "",
        "## Against LAC segmentation (per core, KB/s of UTF-8 input, from bench/results/segment-speed*.md)",
        "",
        "Segmentation's speed is per KB of the documents' UTF-8 text, so the clean stage is compared on the same "
        f"bytes: {mb_text:.2f} MB of document text in {sig_cpu:.2f} s (signatures) + {co_cpu:.2f} s (contamination).",
        "",
        "| report | LAC one sentence per call | LAC batched | pipeline numpy engine | clean per-shard jobs add, vs LAC one-at-a-time | vs LAC batched | vs numpy engine |",
        "|---|---|---|---|---|---|---|",
    ]
    clean_s_per_mb = per_shard_cpu / mb_text
    for name, one, batched, numpy_engine in lac:
        def share(kbs):
            return f"{clean_s_per_mb / (1000 / kbs):.1%}" if kbs == kbs else "-"

        lines_out.append(f"| {name} | {one} | {batched} | {numpy_engine} | {share(one)} | {share(batched)} | "
                         f"{share(numpy_engine)} |")
    if reference_lac:
        lac_s = 1000 / reference_lac[1]
        lines_out += ["", f"- LAC as shipped (one sentence per call, {reference_lac[1]} KB/s): {lac_s:.1f} CPU s per MB "
                      f"of text; the clean stage's per-shard jobs: {clean_s_per_mb:.3f} s per MB "
                      f"(signatures {sig_cpu / mb_text:.3f}, contamination {co_cpu / mb_text:.3f}), "
                      f"**{clean_s_per_mb / lac_s:.2%} of LAC's time**; against the pipeline's numpy engine "
                      f"({reference_lac[3]} KB/s) {clean_s_per_mb / (1000 / reference_lac[3]):.1%}. The grouping "
                      "jobs (one per group, not per shard) are in bench/results/clean-scale.md."]
    lines_out += ["", "Counts the jobs returned:", "", "```"]
    lines_out += [json.dumps(c) for c in counts] + [json.dumps(f) for f in found] + [json.dumps(table_stats), "```", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines_out), encoding="utf-8")
    print("\n".join(lines_out))


if __name__ == "__main__":
    main()
