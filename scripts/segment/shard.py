"""Snakemake job: sentence-split and word-segment one raw shard into jsonl."""
from ernie_pipeline.workflow.job import run


def main(snakemake):
    from threadpoolctl import threadpool_limits

    from ernie_pipeline.segment.segmenters import make_segmenter
    from ernie_pipeline.segment.settings import DatasetSettings, JsonlSettings, SegmentSettings
    from ernie_pipeline.segment.shard import segment_file

    # the settings from the config sections; the rule's params list the keys the shard depends on
    config, name = snakemake.config, snakemake.wildcards.dataset
    dataset = DatasetSettings.from_config(name, config["datasets"][name])
    segment = SegmentSettings.from_config(config["segment"])
    with threadpool_limits(snakemake.threads):  # BLAS threads = the job's cores (NumPy engine)
        segmenter = make_segmenter(segment.segmenter, segment.batch_size, segment.custom_dict, segment.engine)
        stats = segment_file(snakemake.input.raw, snakemake.output.jsonl, segmenter, dataset, segment,
                             JsonlSettings.from_config(config["jsonl"]).json_key, stats_path=snakemake.output.stats)
    print(stats)
    if hasattr(segmenter, "rechecked"):
        print(f"{segmenter.rechecked} near-tie sentences segmented by LAC itself")


# Guarded: worker processes (spawn) re-import this file without Snakemake's preamble.
if __name__ == "__main__":
    run(main, snakemake)  # noqa: F821  (defined by Snakemake's script preamble)
