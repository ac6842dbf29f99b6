"""SLURM requests from input sizes: they grow with what a job must hold or read, and stop where it is bounded."""

from ernie_pipeline.workflow import job_resources as jr


def test_merge_memory_is_bounded_by_its_bucket_and_its_time_grows_with_the_data():
    assert jr.merge_mem_mb(20, 256) < jr.merge_mem_mb(300, 256) == jr.merge_mem_mb(130_000, 256) < 3000
    assert jr.merge_mem_mb(130_000, 1024) > jr.merge_mem_mb(130_000, 256)
    # WuDao's 129 GB of token files: twice the time at the measured rate, plus the fixed start
    seconds = 130_000 / jr.MERGE_MB_PER_S
    assert jr.merge_minutes(130_000) == jr.MIN_MINUTES + -(-2 * seconds // 60) and jr.merge_minutes(1) == jr.MIN_MINUTES + 1

def test_segmentation_time_follows_the_engine_and_compression():
    numpy, paddle = jr.segment_shard_minutes(1000, "numpy", False), jr.segment_shard_minutes(1000, "paddle", False)
    assert numpy < paddle and jr.segment_shard_minutes(250, "numpy", True) == numpy
    assert jr.segment_shard_minutes(1000, "unknown", False) >= paddle  # the slowest measured speed


def test_index_map_and_scheme2_memory_follow_what_they_hold():
    # a map holds its samples or one whole epoch of its split, whichever is more
    assert jr.index_map_mem_mb(10**6, 1, 1.0) == jr.BASE_MB + int(2 * (12 + 1))
    assert jr.index_map_mem_mb(10, 400, 0.5) == jr.BASE_MB + int(2 * (0.5 * 50e6 * 12 + 200e6) / 1e6)
    # WuDao's train split (1.6e9 sentences: a 6.4 GB idx file): an epoch's map, well inside a node
    assert 10_000 < jr.index_map_mem_mb(10**6, 6400, 0.949) < 40_000
    assert jr.scheme2_vocab_mem_mb(500) == jr.BASE_MB + int(2 * 3.3 * 500)


def test_clean_requests_are_bounded_where_the_jobs_are_and_grow_on_retry():
    # a candidate / boilerplate job holds one partition: the corpus size does not enter
    assert jr.clean_partition_mem_mb(256, 30) == jr.BASE_MB + int(2 * (jr.PARTITION_COPIES * 256 + 30))
    # contamination holds the n-gram table, whatever the shard
    assert jr.clean_contamination_mem_mb(46) < jr.clean_contamination_mem_mb(460)
    assert jr.clean_signatures_mem_mb(300) < jr.clean_signatures_mem_mb(3000)
    # duplicates: the first try covers the typical pairs (13.3 B per pair byte measured) twice over, the third
    # the worst case (131.4)
    first, third = jr.clean_duplicates_mem_mb(1000, 32), jr.clean_duplicates_mem_mb(1000, 32, attempt=3)
    assert first - jr.BASE_MB > 2 * 13.3 * 1000 + 32 and third - jr.BASE_MB > 131.4 * 1000
