"""Snakemake job: BasicTokenizer-split the segmented corpus (held-out documents left out) for scheme 2."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.segment.settings import JsonlSettings
    from ernie_pipeline.vocab.scheme2 import pretokenize_shards
    from ernie_pipeline.vocab.settings import VocabSettings

    config = snakemake.config
    shards = [(dataset, shard, path) for (dataset, shard), path in zip(snakemake.params.shards, snakemake.input.jsonl)]
    lines = pretokenize_shards(shards, snakemake.output.text, VocabSettings.from_config(config["vocab"]),
                               JsonlSettings.from_config(config["jsonl"]))
    print(f"{lines} sentences")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
