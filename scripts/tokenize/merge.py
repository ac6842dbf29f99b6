"""Snakemake job: one dataset's token ids from its shards (seeded document order), with the summed
segmentation and tokenisation stats."""
from ernie_pipeline.workflow.job import clean_removals, run


def main(snakemake):
    from ernie_pipeline.segment.corpus_jsonl import write_corpus_stats
    from ernie_pipeline.segment.settings import JsonlSettings
    from ernie_pipeline.tokenize.merge import merge_shards
    from ernie_pipeline.tokenize.token_files import prefix_of

    config = snakemake.config
    merged = merge_shards([prefix_of(path) for path in snakemake.input.ids], list(snakemake.input.stats),
                          prefix_of(snakemake.output.ids), JsonlSettings.from_config(config["jsonl"]),
                          megatron=config["tokenize"]["megatron"],
                          # not a param: the bucket size changes memory, not the output
                          bucket_mb=config["tokenize"]["merge_bucket_mb"], removed=clean_removals(snakemake))
    print(write_corpus_stats(list(snakemake.input.segment_stats), merged, snakemake.output.stats)["totals"], merged)


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
