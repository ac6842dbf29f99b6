"""Snakemake job: tokenise one segmented shard into <prefix>_ids.npy + <prefix>_idx.npz (+ stats)."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from ernie_pipeline.segment.settings import JsonlSettings
    from ernie_pipeline.tokenize.settings import TokenizeSettings
    from ernie_pipeline.tokenize.shard import tokenize_shard
    from ernie_pipeline.tokenize.token_files import prefix_of

    p = snakemake.params
    stats = tokenize_shard(snakemake.input.jsonl, p.tokenizer, prefix_of(snakemake.output.ids),
                           JsonlSettings.from_config(snakemake.config["jsonl"]), stats_path=snakemake.output.stats,
                           settings=TokenizeSettings(**p.settings), tables_path=snakemake.input.tables)
    print(stats)


if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
