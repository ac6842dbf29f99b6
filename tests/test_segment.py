import json

import pytest

from ernie_pipeline.segment import make_segmenter, segment_documents, segment_file, split_sentences
from ernie_pipeline.sample import write_wudao_shards


@pytest.mark.parametrize("text, expected", [
    ("今天天气很好。我们去公园吧！你去吗？", ["今天天气很好。", "我们去公园吧！", "你去吗？"]),
    ("他说：“好。”然后走了", ["他说：“好。”", "然后走了"]),   # closing quote stays
    ("真的吗？？？  是的;;好", ["真的吗？", "是的;", "好"]),         # runs collapse
    ("第一行\n\n第二行（完）。（注）", ["第一行", "第二行（完）。", "（注）"]),
    ("", []),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.fixture(scope="module")
def lac_seg():
    return make_segmenter("seg", batch_size=8)


def test_lac_seg_documented_example(lac_seg):
    assert lac_seg(["LAC是个优秀的分词工具"]) == [["LAC", "是", "个", "优秀", "的", "分词", "工具"]]


def test_lac_seg_gives_the_words_of_single_calls_whatever_the_call_sizes(inews_docs):
    """Unpadded per-document calls (1..32 sentences each) gave run-dependent words for about 2 in
    10,000 sentences on Paddle 2.6; fixed-size padded batches must match LAC's one-sentence calls."""
    segmenter = make_segmenter("seg", batch_size=32)
    documents = [split_sentences(d["content"]) for d in inews_docs[:400]]
    per_document = [words for doc in documents if doc for words in segmenter(doc)]
    flat = [s for doc in documents for s in doc]
    assert len(flat) > 9000
    assert per_document == [segmenter.lac.run(s) for s in flat]
    assert [w for doc in segment_documents(documents, segmenter, 100) for w in doc] == per_document


def test_segment_file_on_real_shard(lac_seg, inews_docs, tmp_path):
    raw = tmp_path / "part-0000.json"
    write_wudao_shards(inews_docs[:12], [raw])
    out = tmp_path / "seg.jsonl"
    stats = segment_file(raw, out, "wudao", lac_seg, stats_path=tmp_path / "seg.stats.json")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert stats["documents"] == len(lines) == 12
    assert json.loads((tmp_path / "seg.stats.json").read_text()) == {"shard": str(raw), **stats}
    assert stats["sentences"] == sum(len(split_sentences(d["content"])) for d in inews_docs[:12])
    for line, doc in zip(lines, inews_docs[:12]):
        text = json.loads(line)["text"]
        assert text.endswith("\n")
        sentences = text.rstrip("\n").split("\n")
        assert sentences == [" ".join(lac_seg([s])[0]) for s in split_sentences(doc["content"])]
        # segmentation loses no character: removing the joining spaces gives the sentences back
        assert "".join(s.replace(" ", "") for s in sentences) == "".join(split_sentences(doc["content"])).replace(" ", "")


def test_malformed_wudao_names_file_and_position(lac_seg, tmp_path):
    raw = tmp_path / "bad.json"
    raw.write_text('[{"id": 1, "content": "好"},\n {"id": 2, "content": }]', encoding="utf-8")
    out = tmp_path / "bad.jsonl"
    with pytest.raises(ValueError, match=r"bad\.json:2:\d+"):
        segment_file(raw, out, "wudao", lac_seg)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_invalid_utf8_is_reported(lac_seg, tmp_path):
    raw = tmp_path / "latin.json"
    raw.write_bytes('[{"content": "caf\xe9"}]'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.json:1: invalid UTF-8 at byte \d+"):
        segment_file(raw, tmp_path / "x.jsonl", "wudao", lac_seg)


def test_jieba_is_upstreams_cut():
    import jieba

    sentences = ["我来到北京清华大学", "他来到了网易杭研大厦 hello world"]
    assert make_segmenter("jieba")(sentences) == [list(jieba.cut(s)) for s in sentences]
    assert make_segmenter("jieba")(["我来到北京清华大学"]) == [["我", "来到", "北京", "清华大学"]]


def test_lac_mode_and_custom_dictionary(tmp_path):
    sentence = "春天的花开秋天的风以及冬天的落阳"
    plain = make_segmenter("seg")([sentence])[0]
    custom = tmp_path / "custom.txt"
    custom.write_text("春天的花开秋天的风\n", encoding="utf-8")
    assert make_segmenter("seg", custom_dict=str(custom))([sentence])[0][0] == "春天的花开秋天的风"
    assert make_segmenter("seg")([sentence])[0] == plain  # the shared instance is untouched
    assert make_segmenter("lac")(["LAC是个优秀的分词工具"]) == [["LAC", "是", "个", "优秀", "的", "分词", "工具"]]
    with pytest.raises(FileNotFoundError, match="segment.custom_dict"):
        make_segmenter("seg", custom_dict=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="unknown segmenter 'hmm'"):
        make_segmenter("hmm")
