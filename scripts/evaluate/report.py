"""Snakemake job: the evaluation report (TSV, Markdown, a plot per task)."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs
    import os
    from ernie_pipeline.evaluate.report import write_report

    logs.to_file(snakemake.log[0])
    write_report(list(snakemake.input.selections), snakemake.output.tsv, snakemake.output.md,
                 os.path.dirname(snakemake.output.tsv))
    print(open(snakemake.output.md, encoding="utf-8").read())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
