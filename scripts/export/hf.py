"""Snakemake job: one checkpoint as a Hugging Face transformers folder."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs
    from ernie_pipeline.export.hf import export

    logs.to_file(snakemake.log[0])
    print(export(snakemake.input.checkpoint, snakemake.output.folder))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
