"""Snakemake job: build one split's sample index map."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.data.index_map import SampleMapSettings, build_index_map
    from ernie_pipeline.data.token_files import prefix_of

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    record = build_index_map(prefix_of(snakemake.input.ids), snakemake.wildcards.split, snakemake.output.index_map,
                             SampleMapSettings(**p.settings), p.num_samples)
    print(record)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
