"""What the heavy jobs ask SLURM for, from the size of their inputs (Snakemake resource callables).

Fixed requests fit one corpus size: too small at 400 GB (SLURM kills the job at its time or memory
limit), too large on the sample (jobs wait for nodes they do not need). Each figure below is a measured
rate or peak with a margin of about 2x, so a slower node or a denser corpus still fits; the README's
"Every corpus-wide job at scale" gives the measurements (``bench/scale.py``, ``bench/results/scale.md``). Where a site knows better, the profile's
``set-resources`` still overrides any of them.
"""

from __future__ import annotations

import math

MARGIN = 2.0  # every measured time and memory slope is asked for twice over
BASE_MB = 600  # a Python process with numpy and the package imported, plus slack
MIN_MINUTES = 10  # scheduling, imports and file-system latency

# Measured on this kind of node (one core), bench/results/segment-speed.md and scale.md
SEGMENT_KB_PER_S = {"numpy": 160, "paddle": 55, "jieba": 340}
COMPRESSION_RATIO = 4  # text per byte of a .gz / .zst shard (Chinese web text: ~3-4)
MERGE_MB_PER_S = 40  # shuffled merge of the token files' bytes, both passes: 78 measured with the shards in
                     # page cache, half of that for a cold or shared file system
MERGE_MB_PER_BUCKET_MB = 3  # a bucket in memory, its offsets and the batch being written: ~2.3 measured
ROWS_PER_SENTENCE = 0.5  # rows of one epoch's sample map per sentence: 0.27 measured at max_seq_len 128 (longer: fewer)
SPM_BYTES_PER_BYTE = 3.3  # sentencepiece's peak RAM per byte of training text


def _minutes(seconds: float) -> int:
    return int(MIN_MINUTES + math.ceil(MARGIN * seconds / 60))


def segment_shard_minutes(input_mb: float, engine: str, compressed: bool) -> int:
    """One raw shard's segmentation: its text at the engine's measured speed per core."""
    text_mb = input_mb * (COMPRESSION_RATIO if compressed else 1)
    return _minutes(text_mb * 1000 / SEGMENT_KB_PER_S.get(engine, min(SEGMENT_KB_PER_S.values())))


def merge_mem_mb(input_mb: float, bucket_mb: int) -> int:
    """The shuffled merge holds one bucket (never more than the data itself) at a time."""
    return int(BASE_MB + MARGIN * MERGE_MB_PER_BUCKET_MB * min(bucket_mb, input_mb))


def merge_minutes(input_mb: float) -> int:
    return _minutes(input_mb / MERGE_MB_PER_S)


def index_map_mem_mb(samples: int | None, idx_mb: float, split_fraction: float) -> int:
    """A sample map is built in memory: ``samples`` rows, or one whole epoch of the split where that is more
    (tool_helpers' ``build_mapping`` finishes the epoch it is in; None: one epoch), 12 bytes a row (24 past
    2**32 sentences); plus the split's document index. The idx file is mostly ``lens``: 4 bytes a sentence."""
    sentences = idx_mb * 1e6 / 4
    rows = max(samples or 0, ROWS_PER_SENTENCE * sentences * split_fraction)
    row_bytes = 24 if sentences >= 2**32 else 12
    return int(BASE_MB + MARGIN * (rows * row_bytes + idx_mb * 1e6 * split_fraction) / 1e6)


def scheme2_vocab_mem_mb(text_mb: float) -> int:
    """sentencepiece loads its whole training text (scheme 2's bounded sample)."""
    return int(BASE_MB + MARGIN * SPM_BYTES_PER_BYTE * text_mb)


# The clean stage, measured by bench/clean_scale.py (bench/results/clean-scale.md: anon bytes above a bare process)
NORMALISER_MB = 20  # the normalisation's code-point tables and a batch (8.9 MB measured)
SIGNATURE_BYTES_PER_BYTE = 0.65  # a shard's per-document arrays per byte of segmented jsonl (0.60 measured)
CONTAMINATION_BYTES_PER_TABLE_BYTE = 1.7  # the benchmark n-gram table held for lookups (1.62 measured; flat in the shard)
# the benchmark's n-gram table: its hashes, owners and their sort per byte of dev/test text (bounded by
# bench/results/clean-speed.md: 383 MB peak for 7.0 MB of passages, the whole bench's process included)
BENCHMARK_BYTES_PER_TEXT_BYTE = 50
PARTITION_COPIES = 5  # a partition read, its sort order, the sorted copy and the runs (4.66 measured)
# Per byte of candidate files: 20 B per 16-byte pair row + 1,041 B per document in a pair. Measured 13.3 on planted
# copies (each near pair in ~10 band files; the sample's own files 13.9); 131.4 when every pair lies in one file
# and touches two new documents. The first try asks for the typical case with room to spare, each retry
# (profiles/slurm: retries) once more: the third covers the worst case.
DUPLICATES_BYTES_PER_PAIR_BYTE = 25
DECISIONS_BYTES_PER_DUPLICATES_BYTE = 5  # the removed copies' ids and reasons, unpacked (4.3 measured)


def clean_signatures_mem_mb(jsonl_mb: float) -> int:
    """A shard's signatures are gathered in memory: the shard's per-document arrays."""
    return int(BASE_MB + NORMALISER_MB + MARGIN * SIGNATURE_BYTES_PER_BYTE * jsonl_mb)


def clean_benchmark_mem_mb(text_mb: float) -> int:
    """The table is built in memory from every dev/test passage."""
    return int(BASE_MB + NORMALISER_MB + MARGIN * BENCHMARK_BYTES_PER_TEXT_BYTE * text_mb)


def clean_contamination_mem_mb(table_mb: float) -> int:
    """The contamination job holds the benchmark n-gram table; it streams the shard."""
    return int(BASE_MB + NORMALISER_MB + MARGIN * CONTAMINATION_BYTES_PER_TABLE_BYTE * table_mb)


def clean_partition_mem_mb(partition_mb: int, largest_input_mb: float) -> int:
    """A grouping job holds one partition (and one shard's files) at a time."""
    return int(BASE_MB + MARGIN * (PARTITION_COPIES * partition_mb + largest_input_mb))


def clean_duplicates_mem_mb(pairs_mb: float, largest_input_mb: float, attempt: int = 1) -> int:
    """The duplicates job holds the candidate pairs and their documents' signatures."""
    return int(BASE_MB + MARGIN * (attempt * DUPLICATES_BYTES_PER_PAIR_BYTE * pairs_mb + largest_input_mb))


def clean_decisions_mem_mb(duplicates_mb: float, largest_input_mb: float) -> int:
    """The decisions job holds the removed copies' ids and one shard's files."""
    return int(BASE_MB + MARGIN * (DECISIONS_BYTES_PER_DUPLICATES_BYTE * duplicates_mb + largest_input_mb))
