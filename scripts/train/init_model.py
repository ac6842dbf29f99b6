"""Snakemake job: model_0, the initial weights of the training chain."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.train.loop import init_checkpoint
    from ernie_pipeline.workflow.planning import train_settings

    logs.to_file(snakemake.log[0])
    init_checkpoint(snakemake.params.tokenizer, train_settings(snakemake.config), snakemake.output.checkpoint)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
