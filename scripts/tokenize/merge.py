"""Snakemake job: one dataset's token ids from its shards (seeded document order), with the summed
segmentation and tokenisation stats."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.data.token_files import prefix_of
    from ernie_pipeline.corpus.corpus_jsonl import write_corpus_stats
    from ernie_pipeline.tokenize.merge import merge_shards

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    merged = merge_shards([prefix_of(path) for path in snakemake.input.ids], list(snakemake.input.stats),
                          prefix_of(snakemake.output.ids), p.shuffle, p.seed, p.megatron,
                          # read from the config, not a param: the bucket size changes memory, not the output
                          snakemake.config["tokenize"]["merge_bucket_mb"])
    print(write_corpus_stats(list(snakemake.input.segment_stats), merged, snakemake.output.stats)["totals"], merged)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
