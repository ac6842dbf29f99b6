"""Snakemake job: ERNIE pretraining."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment
    from ernie_pipeline import logs  # first: puts the system zlib ahead of Paddle's copy
    from pathlib import Path
    from ernie_pipeline.index_map import SPLIT_NAMES
    from ernie_pipeline.indexed import prefix_of
    from ernie_pipeline.train import pretrain

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    prefixes = [prefix_of(path) for path in snakemake.input.ids]
    # index maps come dataset by dataset, each with its train, valid and test map
    maps = {split: list(snakemake.input.index_maps)[k::len(SPLIT_NAMES)] for k, split in enumerate(SPLIT_NAMES)}
    blends = dict(zip(SPLIT_NAMES, snakemake.input.blends)) or None
    summary = pretrain(prefixes, p.tokenizer, maps, str(Path(snakemake.output.summary).parent), dict(p.train),
                       dict(p.index), snakemake.output.summary, blends)
    print(summary)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
