"""Snakemake job: what the compiled tokenizer needs from the paddlenlp tokenizer, derived once."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.tokenize.tables import build_tables

    logs.to_file(snakemake.log[0])
    print(build_tables(snakemake.params.tokenizer, snakemake.output.tables))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
