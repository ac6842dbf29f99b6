"""Snakemake job: ERNIE pretraining."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from pathlib import Path  # noqa: E402

from ernie_pipeline.index_map import SPLIT_NAMES  # noqa: E402
from ernie_pipeline.train import pretrain  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    p = snakemake.params
    maps = dict(zip(SPLIT_NAMES, snakemake.input.index_maps))
    summary = pretrain(p.prefix, str(Path(snakemake.input.vocab).parent), maps, p.output_dir, dict(p.train),
                       dict(p.index), snakemake.output.summary)
    print(summary)
