"""Snakemake job: sentence-split and word-segment one raw shard into jsonl."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # the workflow's package, in any environment

from ernie_pipeline import logs  # noqa: E402  (first: puts the system zlib ahead of Paddle's)

from ernie_pipeline.segment import make_segmenter, segment_file  # noqa: E402

if __name__ == "__main__":
    logs.to_file(snakemake.log[0])
    p = snakemake.params
    stats = segment_file(snakemake.input.raw, snakemake.output.jsonl, p.format,
                         make_segmenter(p.segmenter, p.batch_size), p.json_key)
    print(stats)
