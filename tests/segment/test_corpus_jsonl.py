import json

import pytest

from conftest import jsonl_settings
from ernie_pipeline.segment.corpus_jsonl import merge_jsonl, write_corpus_stats


def _shard(path, texts):
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    return path


def test_filter_order_and_seeded_shuffle(tmp_path):
    a = _shard(tmp_path / "a.jsonl", ["短", "第一 篇 文章 很 长 。\n", "第二 篇 文章 也 很 长 。\n"])
    b = _shard(tmp_path / "b.jsonl", [f"第 {i} 篇 文章 的 内容 。\n" for i in range(20)])
    counts = merge_jsonl([a, b], tmp_path / "plain.jsonl", jsonl_settings(min_doc_length=10, shuffle=False))
    plain = (tmp_path / "plain.jsonl").read_text(encoding="utf-8").splitlines()
    assert counts == {"documents_read": 23, "dropped_short": 1, "documents_written": 22} and len(plain) == 22
    assert json.loads(plain[0])["text"].startswith("第一")  # shard order, "短" dropped
    merge_jsonl([a, b], tmp_path / "s1.jsonl", jsonl_settings(seed=7))
    merge_jsonl([a, b], tmp_path / "s2.jsonl", jsonl_settings(seed=7))
    merge_jsonl([a, b], tmp_path / "s3.jsonl", jsonl_settings(seed=8))
    s1, s2, s3 = ((tmp_path / f"s{i}.jsonl").read_bytes() for i in (1, 2, 3))
    assert s1 == s2 and s1 != s3
    assert sorted(s1.decode().splitlines()) == sorted(plain)


def test_bad_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "很长很长很长很长很长很长"}\n{"txt": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2:"):
        merge_jsonl([bad], tmp_path / "out.jsonl", jsonl_settings())
    assert not (tmp_path / "out.jsonl").exists()


def test_corpus_stats_add_up_skipped_records_per_reason(tmp_path):
    shards = [
        {"shard": "a.jsonl", "documents": 3, "empty_documents": 1, "sentences": 9, "characters": 120,
         "skipped": {"invalid_json": 2, "too_long": 1}, "skipped_examples": ["a.jsonl:4:1: not a JSON line: ..."]},
        {"shard": "b.json", "documents": 0, "empty_documents": 0, "sentences": 0, "characters": 0,
         "skipped": {"file_invalid_json": 1}, "skipped_examples": ["b.json:2:1: not valid WuDao JSON: Extra data"]},
        {"shard": "c.txt", "documents": 2, "empty_documents": 0, "sentences": 4, "characters": 50, "skipped": {},
         "skipped_examples": []},
    ]
    paths = []
    for i, shard in enumerate(shards):
        paths.append(tmp_path / f"{i}.stats.json")
        paths[-1].write_text(json.dumps(shard), encoding="utf-8")
    merge = {"documents_read": 5, "dropped_short": 0, "documents_written": 5}
    summary = write_corpus_stats(paths, merge, tmp_path / "corpus.stats.json")
    assert summary == json.loads((tmp_path / "corpus.stats.json").read_text(encoding="utf-8")) == {
        "totals": {"documents": 5, "empty_documents": 1, "sentences": 13, "characters": 170,
                   "skipped": {"file_invalid_json": 1, "invalid_json": 2, "too_long": 1}},
        "merge": merge,
        "shards": shards,
    }
