"""Snakemake job: one checkpoint as a Hugging Face transformers folder."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.export.hf import export

    print(export(snakemake.input.checkpoint, snakemake.output.folder))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
