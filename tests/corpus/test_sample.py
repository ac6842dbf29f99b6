import json

from ernie_pipeline.corpus.sample import write_english_text, write_wudao_shards


def test_inews_is_real_chinese_news(inews_docs):
    assert len(inews_docs) == 7353
    text = "".join(d["content"] for d in inews_docs[:200])
    assert sum("\u4e00" <= c <= "\u9fa5" for c in text) > 0.6 * len(text)


def test_wudao_shards_layout(inews_docs, tmp_path):
    paths = [tmp_path / f"part-{i:04d}.json" for i in range(3)]
    write_wudao_shards(inews_docs, paths, max_docs=100)
    records = []
    for path in paths:
        shard = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(shard, list) and shard
        records += shard
    assert [r["id"] for r in records] == list(range(100))
    assert all(set(r) == {"id", "dataType", "title", "content"} for r in records)
    assert [r["content"] for r in records] == [d["content"] for d in inews_docs[:100]]
    assert not list(tmp_path.glob(".*.tmp"))


def test_english_text(english_wheels, tmp_path):
    out = tmp_path / "english.txt"
    lines = write_english_text(english_wheels, out)
    text = out.read_text(encoding="utf-8")
    assert lines == text.count("\n") > 100000
    assert "Quarterly profits at US media giant TimeWarner" in text  # BBC business/001
    assert "Proceed, Solinus, to procure my fall" in text  # The Comedy of Errors
    assert "**" not in text and "\n#" not in text  # Markdown stripped
