"""Snakemake job: merge segmented shards into one corpus jsonl (filter + seeded shuffle)."""
from ernie_pipeline.workflow.job import clean_removals, run


def main(snakemake):
    from ernie_pipeline.segment.corpus_jsonl import merge_jsonl, write_corpus_stats
    from ernie_pipeline.segment.settings import JsonlSettings

    counts = merge_jsonl(list(snakemake.input.shards), snakemake.output.jsonl,
                         JsonlSettings.from_config(snakemake.config["jsonl"]), removed=clean_removals(snakemake))
    print(write_corpus_stats(list(snakemake.input.stats), counts, snakemake.output.stats)["totals"], counts)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
