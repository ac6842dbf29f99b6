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
    maps = dict(zip(SPLIT_NAMES, snakemake.input.index_maps))
    summary = pretrain(prefix_of(snakemake.input.ids), p.tokenizer, maps,
                       str(Path(snakemake.output.summary).parent), dict(p.train),
                       dict(p.index), snakemake.output.summary)
    print(summary)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
