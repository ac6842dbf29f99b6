"""Snakemake job: model_0, the initial weights of the training chain."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.train.launch import run_init
    from ernie_pipeline.workflow.planning import train_settings

    run_init(snakemake.params.tokenizer, train_settings(snakemake.config), snakemake.output.checkpoint)


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
