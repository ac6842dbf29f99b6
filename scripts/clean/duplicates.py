"""Snakemake job: the candidate pairs verified and grouped into clusters; the copies each cluster drops."""
from ernie_pipeline.workflow.job import clean_group, run


def main(snakemake):
    from pathlib import Path

    from ernie_pipeline.clean.duplicates import find_duplicates
    from ernie_pipeline.clean.settings import CleanSettings
    from ernie_pipeline.io.atomic import write_json

    shards = clean_group(snakemake, "docs", "minhash")
    pair_files = {Path(path).stem: path for path in snakemake.input.pairs}
    stats = find_duplicates(pair_files, shards, CleanSettings.from_config(snakemake.config["clean"]),
                            snakemake.output.duplicates)
    write_json(snakemake.output.stats, stats)
    print(stats)


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
