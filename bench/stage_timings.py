"""Summarise the Snakemake ``benchmark:`` files of a run (wall time, max RSS per job and stage).

    .venv/bin/python bench/stage_timings.py [results/benchmarks] > bench/results/<name>.md

Run by hand after a workflow run; the figures are quoted in issue notes, never asserted in tests.
"""

from __future__ import annotations

import csv
import platform
import sys
from collections import defaultdict
from pathlib import Path


def main(root: str = "results/benchmarks") -> int:
    files = sorted(Path(root).rglob("*.tsv"))
    if not files:
        print(f"no benchmark files under {root}", file=sys.stderr)
        return 1
    stages: dict[str, list[dict]] = defaultdict(list)
    for path in files:
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        stage = path.relative_to(root).parts[0].removesuffix(".tsv")
        stages[stage].append({"job": str(path.relative_to(root)), "s": float(row["s"]),
                              "max_rss_mb": float(row["max_rss"]) if row["max_rss"] != "NA" else float("nan")})
    print(f"# Stage timings ({platform.node()}, {platform.processor() or platform.machine()})\n")
    print("| stage | jobs | total s | max job s | max RSS MB |")
    print("|---|---|---|---|---|")
    for stage, rows in stages.items():
        print(f"| {stage} | {len(rows)} | {sum(r['s'] for r in rows):.1f} | {max(r['s'] for r in rows):.1f} "
              f"| {max(r['max_rss_mb'] for r in rows):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
