"""Snakemake job: character counts of one segmented shard (a seeded sample) and its held-out documents."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.vocab.chars import count_shard, write_shard_counts

    logs.to_file(snakemake.log[0])
    p, w = snakemake.params, snakemake.wildcards
    counts, heldout = count_shard(snakemake.input.jsonl, w.dataset, w.shard, p.json_key, p.min_doc_length,
                                  p.count_fraction, p.heldout_fraction, p.seed)
    write_shard_counts(counts, heldout, snakemake.output.counts, snakemake.output.heldout, p.json_key)
    print(f"{sum(counts.values())} characters counted, {len(heldout)} documents held out")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
