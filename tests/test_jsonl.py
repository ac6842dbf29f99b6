import json

import pytest

from ernie_pipeline.jsonl import merge_jsonl


def _shard(path, texts):
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    return path


def test_filter_order_and_seeded_shuffle(tmp_path):
    a = _shard(tmp_path / "a.jsonl", ["短", "第一 篇 文章 很 长 。\n", "第二 篇 文章 也 很 长 。\n"])
    b = _shard(tmp_path / "b.jsonl", [f"第 {i} 篇 文章 的 内容 。\n" for i in range(20)])
    counts = merge_jsonl([a, b], tmp_path / "plain.jsonl", min_doc_length=10, shuffle=False)
    plain = (tmp_path / "plain.jsonl").read_text(encoding="utf-8").splitlines()
    assert counts == {"documents_read": 23, "dropped_short": 1, "documents_written": 22} and len(plain) == 22
    assert json.loads(plain[0])["text"].startswith("第一")  # shard order, "短" dropped
    merge_jsonl([a, b], tmp_path / "s1.jsonl", shuffle=True, seed=7)
    merge_jsonl([a, b], tmp_path / "s2.jsonl", shuffle=True, seed=7)
    merge_jsonl([a, b], tmp_path / "s3.jsonl", shuffle=True, seed=8)
    s1, s2, s3 = ((tmp_path / f"s{i}.jsonl").read_bytes() for i in (1, 2, 3))
    assert s1 == s2 and s1 != s3
    assert sorted(s1.decode().splitlines()) == sorted(plain)


def test_bad_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "很长很长很长很长很长很长"}\n{"txt": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2:"):
        merge_jsonl([bad], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
