"""A job killed with SIGKILL (out of memory, a lost node, scancel --signal=KILL) and then rerun leaves nothing
behind: its temporary files have names fixed by its outputs, so the rerun clears them (issue 15, item 11)."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, jsonl_settings

# Each child runs a real stage and blocks at a point where its temporary files exist; the parent kills it there.
_PREAMBLE = f"""
import sys, time
sys.path.insert(0, {str(REPO / "src")!r})
import ernie_pipeline
from ernie_pipeline.segment.settings import JsonlSettings
from ernie_pipeline.settings import schema_defaults
jsonl_settings = lambda: JsonlSettings.from_config(schema_defaults("jsonl"))
"""
CHILDREN = {
    "segment_shard": """
from ernie_pipeline.segment.segmenters import make_segmenter
from ernie_pipeline.segment.settings import DatasetSettings, SegmentSettings
from ernie_pipeline.segment.shard import segment_file
from ernie_pipeline.settings import schema_defaults
lac = make_segmenter("seg")
calls = []
def blocking(sentences):
    calls.append(1)
    if len(calls) == 3:
        time.sleep(600)
    return lac(sentences)
blocking.sentences_per_call = 2
segment_file(sys.argv[1], sys.argv[2], blocking, DatasetSettings(".", "clue", None, "fail"),
             SegmentSettings.from_config(schema_defaults("segment")), stats_path=sys.argv[3])
""",
    "token_ids_shard": """
from ernie_pipeline.tokenize import encoder, merge, shard
encode, calls = encoder.DocumentEncoder.encode, []
def blocking(self, texts):
    calls.append(1)
    if len(calls) == 3:
        time.sleep(600)
    return encode(self, texts)
encoder.DocumentEncoder.encode = blocking
shard.tokenize_shard(sys.argv[1], sys.argv[2], sys.argv[3], jsonl_settings(), stats_path=sys.argv[3] + ".stats.json",
                     tables_path=sys.argv[4],
                         batch_docs=4)
""",
    "merge_token_ids": """
from ernie_pipeline.tokenize import merge
def blocking(self, bucket):
    time.sleep(600)
merge._Buckets.take = blocking
merge.merge_shards(sys.argv[1:3], [p + ".stats.json" for p in sys.argv[1:3]], sys.argv[3], jsonl_settings(), bucket_mb=0)
""",
}


def _kill_when_scratch_appears(job: str, args: list[str], directory, timeout: float = 180) -> list[str]:
    """Run ``job``'s child, SIGKILL it once hidden scratch files exist in ``directory``; return their names."""
    child = subprocess.Popen([sys.executable, "-c", _PREAMBLE + CHILDREN[job], *map(str, args)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and child.poll() is None:
            hidden = sorted(p.name for p in directory.glob(".*"))
            if hidden and (job != "merge_token_ids" or any("merge" in name for name in hidden)):
                time.sleep(0.5)  # let it write a little more
                return sorted(p.name for p in directory.glob(".*"))
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    raise AssertionError(f"{job} made no scratch file (exit {child.returncode}): {child.stderr.read()[-3000:]}")


@pytest.mark.parametrize("job", list(CHILDREN))
def test_a_rerun_after_sigkill_leaves_only_the_outputs(job, artifacts, inews_docs, tmp_path):
    from ernie_pipeline.segment.segmenters import make_segmenter
    from ernie_pipeline.segment.settings import DatasetSettings, SegmentSettings
    from ernie_pipeline.segment.shard import segment_file
    from ernie_pipeline.settings import schema_defaults
    from ernie_pipeline.tokenize.merge import merge_shards
    from ernie_pipeline.tokenize.shard import tokenize_shard

    out = tmp_path / "out"
    out.mkdir()
    results = artifacts["results"]
    shards = [results / "token_ids" / "tiny" / f"part-{k:04d}.json" for k in range(2)]
    tables = results / "token_ids" / "tokenizer_tables.npz"
    segmented = results / "segmented" / "tiny" / "part-0000.json.jsonl"
    if job == "segment_shard":
        raw = tmp_path / "news.txt"
        raw.write_text("\n".join(d["content"].replace("\n", " ") for d in inews_docs[:12]) + "\n", encoding="utf-8")
        args = [raw, out / "news.txt.jsonl", out / "news.txt.stats.json"]
        expected = ["news.txt.jsonl", "news.txt.stats.json"]
    elif job == "token_ids_shard":
        args = [segmented, artifacts["vocab_dir"], out / "part", tables]
        expected = ["part.stats.json", "part_ids.npy", "part_idx.npz"]
    else:
        args = [*shards, out / "merged"]
        expected = ["merged_ids.npy", "merged_idx.npz"]
    left = _kill_when_scratch_appears(job, args, out)
    assert left and not any(p.name in expected for p in out.iterdir())  # killed mid-way: scratch, no output

    if job == "segment_shard":
        segment_file(args[0], args[1], make_segmenter("seg"), DatasetSettings(".", "clue", None, "fail"),
                     SegmentSettings.from_config(schema_defaults("segment")), stats_path=args[2])
    elif job == "token_ids_shard":
        tokenize_shard(*args[:2], args[2], jsonl_settings(), stats_path=f"{args[2]}.stats.json", tables_path=args[3])
    else:
        merge_shards(shards, [f"{s}.stats.json" for s in shards], args[2], jsonl_settings(), bucket_mb=0)
    assert sorted(p.name for p in out.iterdir()) == expected, f"left by the killed attempt: {left}"
    if job == "token_ids_shard":  # and the rerun's output is the workflow's own
        assert json.loads((out / "part.stats.json").read_text())["documents"] == \
            json.loads(open(f"{shards[0]}.stats.json").read())["documents"]
