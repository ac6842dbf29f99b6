"""Snakemake job: BasicTokenizer-split the segmented corpus (held-out documents left out) for scheme 2."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.vocab.scheme2 import pretokenize_shards

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    shards = [(dataset, shard, path) for (dataset, shard), path in zip(p.shards, snakemake.input.jsonl)]
    lines = pretokenize_shards(shards, snakemake.output.text, p.json_key, p.min_doc_length, p.heldout_fraction,
                               p.seed, p.sample_mb)
    print(f"{lines} sentences")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
