"""Snakemake job: the documents of one segmented shard that share a long n-gram with the benchmark text."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.clean.contamination import shard_contamination
    from ernie_pipeline.segment.settings import JsonlSettings

    print(shard_contamination(snakemake.input.jsonl, snakemake.input.table, snakemake.output.found,
                              JsonlSettings.from_config(snakemake.config["jsonl"]), snakemake.params.min_share))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
