"""Snakemake job: the lines that recur in many of a group's documents (boilerplate)."""
from ernie_pipeline.workflow.job import clean_group, run


def main(snakemake):
    import numpy as np

    from ernie_pipeline.clean.boilerplate import boilerplate_lines
    from ernie_pipeline.clean.duplicates import read_duplicates

    shards = clean_group(snakemake, "docs", "contamination")
    duplicates = read_duplicates(snakemake.input.duplicates)[0] if snakemake.input.duplicates else np.zeros(0, np.uint64)
    print(boilerplate_lines(shards, duplicates, snakemake.params.min_documents, snakemake.output.lines,
                            snakemake.config["clean"]["partition_mb"]))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
