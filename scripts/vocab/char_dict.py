"""Snakemake job: sum the shards' character counts into char_dict.pickle."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.vocab.chars import sum_counts, write_char_dict

    logs.to_file(snakemake.log[0])
    counts = sum_counts(list(snakemake.input.counts))
    write_char_dict(counts, snakemake.output.pickle)
    print(f"{len(counts)} distinct characters, {sum(counts.values())} in all")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
