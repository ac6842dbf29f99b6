"""Segmentation throughput with 1..N parallel Snakemake jobs (one core each) on the sample's shards.

    .venv/bin/python bench/segment_scaling.py [--docs 2000] [--shards 4] [--jobs 1 2] [--out bench/results/segment-scaling.md]

Builds the sample (``--docs`` documents in ``--shards`` WuDao shards) in a temporary folder, then
for each value of ``--jobs`` deletes the segmented shards and times
``snakemake --cores J <every segmented shard>`` with the repository's config.yaml otherwise
(segment_shard has ``threads: 1``, so J cores run J shards at once). Reports wall time, KB/s of
UTF-8 document text and the speed-up over one job.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ernie_pipeline.corpus.readers import read_documents  # noqa: E402


def snakemake(workdir: Path, cores: int, targets: list[str]) -> float:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", str(cores), *targets, "--quiet", "all"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=str(REPO / "bench/results/segment-scaling.md"))
    args = parser.parse_args()

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["sample"].update(downloads=str(REPO / config["sample"]["downloads"]), num_shards=args.shards,
                            max_docs=args.docs)
    name = next(iter(config["datasets"]))
    with tempfile.TemporaryDirectory(prefix="segment-scaling-") as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
        raw = [f"{config['sample']['dir']}/wudao/part-{i:04d}.json" for i in range(args.shards)]
        snakemake(workdir, max(args.jobs), raw)  # the sample itself, not timed
        kilobytes = sum(len(doc.encode("utf-8")) for path in raw for doc in read_documents(workdir / path, "wudao")) / 1000
        segmented = [f"{config['results_dir']}/segmented/{name}/{Path(p).name}.jsonl" for p in raw]
        rows = []
        for jobs in args.jobs:
            shutil.rmtree(workdir / config["results_dir"] / "segmented", ignore_errors=True)
            rows.append((jobs, snakemake(workdir, jobs, segmented)))

    single = rows[0][1]
    lines = [
        f"# Segmentation scaling ({platform.node()}, {os.cpu_count()} cores, engine {config['segment']['engine']}, "
        f"{args.docs} documents in {args.shards} shards, {kilobytes:.0f} KB)", "",
        "Wall time of `snakemake --cores J` over every segmented shard (Snakemake start-up included).", "",
        "| jobs (cores) | wall s | KB/s | speed-up | per core |", "|---|---|---|---|---|",
    ]
    lines += [f"| {jobs} | {wall:.1f} | {kilobytes / wall:.1f} | {single / wall:.2f} | {kilobytes / wall / jobs:.1f} |"
              for jobs, wall in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
