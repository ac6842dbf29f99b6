"""Snakemake job: tokenise one segmented shard into <prefix>_ids.npy + <prefix>_idx.npz (+ stats)."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.data.token_files import prefix_of
    from ernie_pipeline.tokenize.settings import TokenizeSettings
    from ernie_pipeline.tokenize.shard import tokenize_shard

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    stats = tokenize_shard(snakemake.input.jsonl, p.tokenizer, prefix_of(snakemake.output.ids), snakemake.output.stats,
                           p.json_key, p.min_doc_length, TokenizeSettings(**p.settings), snakemake.input.tables)
    print(stats)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
