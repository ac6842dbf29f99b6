"""Snakemake job: every document's verdict (kept, or the first reason it is removed), the group's statistics and
their plot."""
from ernie_pipeline.workflow.job import clean_group, run


def main(snakemake):
    import numpy as np

    from ernie_pipeline.clean.decisions import decide, read_stats, write_stats
    from ernie_pipeline.clean.duplicates import read_duplicates
    from ernie_pipeline.clean.report import plot_removals
    from ernie_pipeline.clean.settings import CleanSettings

    inputs = snakemake.input
    shards = clean_group(snakemake, "docs", "contamination")
    duplicates = (read_duplicates(inputs.duplicates) if inputs.duplicates
                  else (np.zeros(0, np.uint64), np.zeros(0, np.uint8)))
    frequent = np.load(inputs.boilerplate, allow_pickle=False) if inputs.boilerplate else None
    benchmark = read_stats(inputs.benchmark) if inputs.benchmark else None
    labels = list(benchmark["sources"]) if benchmark else []
    datasets = decide(shards, duplicates, frequent, labels, CleanSettings.from_config(snakemake.config["clean"]),
                      snakemake.output.decisions)
    duplicate_stats = read_stats(inputs.duplicate_stats) if inputs.duplicate_stats else None
    write_stats(snakemake.output.stats, datasets, duplicate_stats, benchmark)
    plot_removals(read_stats(snakemake.output.stats), snakemake.output.plot)
    for name, stats in datasets.items():
        print(name, stats["totals"])


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
