"""Snakemake job: merge segmented shards into one corpus jsonl (filter + seeded shuffle)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from ernie_pipeline.jsonl import merge_jsonl  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    p = snakemake.params
    count = merge_jsonl(list(snakemake.input.shards), snakemake.output.jsonl, p.json_key, p.min_doc_length,
                        p.shuffle, p.seed)
    print(f"{count} documents")
