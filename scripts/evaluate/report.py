"""Snakemake job: the evaluation report (TSV, Markdown, a plot per task)."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    import os
    from ernie_pipeline.evaluate.report import write_report

    write_report(list(snakemake.input.selections), snakemake.output.tsv, snakemake.output.md,
                 os.path.dirname(snakemake.output.tsv))
    print(open(snakemake.output.md, encoding="utf-8").read())


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
