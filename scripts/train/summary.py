"""Snakemake job: the pretraining run's summary, test loss and training curve, from the chain's checkpoints."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from pathlib import Path

    from ernie_pipeline.train.launch import run_summary
    from ernie_pipeline.workflow.planning import train_data, train_settings

    summary = Path(snakemake.output.summary)
    run_summary(train_data(snakemake.config, snakemake.input), train_settings(snakemake.config), str(summary.parent),
                list(snakemake.input.checkpoints), str(summary), snakemake.output.curve)


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
