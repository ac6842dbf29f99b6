"""Snakemake job: one segmented shard's signatures, exact hashes, filter verdicts and lines (clean stage)."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.clean.settings import CleanSettings
    from ernie_pipeline.clean.signatures import shard_signatures
    from ernie_pipeline.segment.settings import JsonlSettings

    config = snakemake.config
    print(shard_signatures(snakemake.input.jsonl, dict(snakemake.output.items()), CleanSettings.from_config(
        config["clean"]), JsonlSettings.from_config(config["jsonl"])))


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
