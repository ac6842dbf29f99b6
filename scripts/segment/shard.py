"""Snakemake job: sentence-split and word-segment one raw shard into jsonl."""
import sys


def main(snakemake):
    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # the workflow's package, in any environment
    from ernie_pipeline.io import logs  # first: puts the system zlib ahead of Paddle's copy
    from ernie_pipeline.segment.segmenters import make_segmenter
    from ernie_pipeline.segment.shard import segment_file
    from threadpoolctl import threadpool_limits

    logs.to_file(snakemake.log[0])
    p = snakemake.params
    with threadpool_limits(snakemake.threads):  # BLAS threads = the job's cores (NumPy engine)
        segmenter = make_segmenter(p.segmenter, p.batch_size, p.custom_dict, p.engine)
        stats = segment_file(snakemake.input.raw, snakemake.output.jsonl, p.format, segmenter, p.json_key,
                             p.input_key, snakemake.output.stats, p.on_error, p.max_document_chars,
                             p.max_sentence_chars, p.max_invalid_utf8_share)
    print(stats)
    if hasattr(segmenter, "rechecked"):
        print(f"{segmenter.rechecked} near-tie sentences segmented by LAC itself")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
