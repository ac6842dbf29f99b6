"""Snakemake job: merge segmented shards into one corpus jsonl (filter + seeded shuffle)."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.corpus.corpus_jsonl import merge_jsonl, write_corpus_stats

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    counts = merge_jsonl(list(snakemake.input.shards), snakemake.output.jsonl, p.json_key, p.min_doc_length,
                         p.shuffle, p.seed)
    print(write_corpus_stats(list(snakemake.input.stats), counts, snakemake.output.stats)["totals"], counts)


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
