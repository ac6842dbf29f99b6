"""Snakemake job: build one split's sample index map."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.index.index_map import SampleMapSettings, build_index_map
    from ernie_pipeline.tokenize.token_files import prefix_of

    p = snakemake.params
    record = build_index_map(prefix_of(snakemake.input.ids), snakemake.wildcards.split, snakemake.output.index_map,
                             SampleMapSettings(**p.settings), p.num_samples)
    print(record)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
