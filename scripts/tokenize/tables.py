"""Snakemake job: what the compiled tokenizer needs from the paddlenlp tokenizer, derived once."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.tokenize.tables import build_tables

    print(build_tables(snakemake.params.tokenizer, snakemake.output.tables))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
