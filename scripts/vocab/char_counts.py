"""Snakemake job: character counts of one segmented shard (a seeded sample) and its held-out documents."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.segment.settings import JsonlSettings
    from ernie_pipeline.vocab.chars import count_shard, write_shard_counts
    from ernie_pipeline.vocab.settings import VocabSettings

    config, w = snakemake.config, snakemake.wildcards
    jsonl = JsonlSettings.from_config(config["jsonl"])
    counts, heldout = count_shard(snakemake.input.jsonl, w.dataset, w.shard, VocabSettings.from_config(config["vocab"]),
                                  jsonl)
    write_shard_counts(counts, heldout, snakemake.output.counts, snakemake.output.heldout, jsonl.json_key)
    print(f"{sum(counts.values())} characters counted, {len(heldout)} documents held out")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
