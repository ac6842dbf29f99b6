"""Snakemake job: the pretraining run's summary, test loss and training curve, from the chain's checkpoints."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from pathlib import Path
    from ernie_pipeline.train.summary import summarize
    from ernie_pipeline.workflow.planning import train_data, train_settings

    logs.to_file(snakemake.log[0])
    summary = Path(snakemake.output.summary)
    print(summarize(train_data(snakemake.config, snakemake.input), train_settings(snakemake.config),
                    str(summary.parent), list(snakemake.input.checkpoints), str(summary), snakemake.output.curve))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
