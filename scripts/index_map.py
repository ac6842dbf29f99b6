"""Snakemake job: build one split's sample index map."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from ernie_pipeline.index_map import build_index_map  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    p = snakemake.params
    record = build_index_map(p.prefix, snakemake.wildcards.split, snakemake.output.index_map, p.split, p.max_seq_len,
                             p.short_seq_prob, p.seed, p.num_samples, p.binary_head)
    print(record)
