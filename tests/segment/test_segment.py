import json
import re

import pytest

from ernie_pipeline.corpus.readers import CorpusFormatError
from ernie_pipeline.segment.segmenters import make_segmenter
from ernie_pipeline.segment.sentences import split_sentences
from ernie_pipeline.segment.settings import DatasetSettings, SegmentSettings
from ernie_pipeline.segment.shard import segment_documents, segment_file
from ernie_pipeline.settings import schema_defaults
from ernie_pipeline.corpus.sample import write_wudao_shards


def _segment(raw, out, fmt, segmenter, stats_path=None, on_error="fail", **segment):
    """segment_file on one raw file of format ``fmt``, without length limits unless given."""
    settings = SegmentSettings.from_config({**schema_defaults("segment"), "max_document_chars": 0,
                                            "max_sentence_chars": 0, **segment})
    return segment_file(raw, out, segmenter, DatasetSettings(str(raw.parent), fmt, None, on_error), settings,
                        stats_path=stats_path)


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


@pytest.mark.slow
def test_lac_seg_gives_the_words_of_single_calls_whatever_the_call_sizes(inews_docs):
    """Unpadded per-document calls (1..32 sentences each) gave run-dependent words for about 2 in
    10,000 sentences on Paddle 2.6; fixed-size padded batches must match LAC's one-sentence calls."""
    segmenter = make_segmenter("seg", batch_size=32, engine="paddle")
    documents = [split_sentences(d["content"]) for d in inews_docs[:400]]
    per_document = [words for doc in documents if doc for words in segmenter(doc)]
    flat = [s for doc in documents for s in doc]
    assert len(flat) > 9000
    assert per_document == [segmenter.lac.run(s) for s in flat]
    assert [w for doc in segment_documents(documents, segmenter, 100) for w in doc] == per_document


@pytest.mark.slow
def test_segment_file_on_real_shard(lac_seg, inews_docs, tmp_path):
    raw = tmp_path / "part-0000.json"
    write_wudao_shards(inews_docs[:12], [raw])
    out = tmp_path / "seg.jsonl"
    stats = _segment(raw, out, "wudao", lac_seg, stats_path=tmp_path / "seg.stats.json")
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
        _segment(raw, out, "wudao", lac_seg)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_invalid_utf8_is_reported(lac_seg, tmp_path):
    raw = tmp_path / "latin.json"
    raw.write_bytes('[{"content": "caf\xe9"}]'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.json:1: invalid UTF-8 at byte \d+"):
        _segment(raw, tmp_path / "x.jsonl", "wudao", lac_seg)


@pytest.mark.slow
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


def test_long_sentences_are_cut_after_a_comma_else_at_the_limit():
    sentence = "凡成功预约报名的，可在活动签到现场获得夜购预约卡集，凭卡集可领取莫斯利安酸奶一箱或价值150元的丁渤验房券1张，礼品数量有限，领完即止。"
    assert split_sentences(sentence, 16) == [
        "凡成功预约报名的，",                 # a comma in the second half of the 16 characters: cut after it
        "可在活动签到现场获得夜购预约卡集",   # none: cut at 16
        "，凭卡集可领取莫斯利安酸奶一箱或",
        "价值150元的丁渤验房券1张，",
        "礼品数量有限，领完即止。",
    ]
    assert split_sentences(sentence, 0) == split_sentences(sentence, len(sentence)) == [sentence]


class CharSegmenter:
    """A stand-in for LAC: every character a word; remembers the longest sentence it was given."""

    def __init__(self):
        self.longest = 0

    def __call__(self, sentences):
        self.longest = max([self.longest, *map(len, sentences)])
        return [list(s) for s in sentences]


def _doc_line(text) -> str:
    return " ".join(text) + "\n"  # CharSegmenter's words of one sentence


def test_an_unpunctuated_document_still_segments(inews_docs, tmp_path):
    text = re.sub(r"[\W\d_a-zA-Z]", "", "".join(d["content"] for d in inews_docs[:20]))  # real words only
    assert len(text) > 5000 and split_sentences(text) == [text]
    raw = tmp_path / "a.txt"
    raw.write_text(text + "\n", encoding="utf-8")
    segmenter = CharSegmenter()
    stats = _segment(raw, tmp_path / "a.jsonl", "clue", segmenter, max_sentence_chars=512)
    assert segmenter.longest == 512 and stats["sentences"] == -(-len(text) // 512)
    [line] = (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
    pieces = json.loads(line)["text"].splitlines()
    assert [p.replace(" ", "") for p in pieces] == [text[i:i + 512] for i in range(0, len(text), 512)]


@pytest.fixture()
def mixed_jsonl(inews_docs, tmp_path):
    """A jsonl shard of real documents with one bad record of each kind (lines 2, 4, 5, 6, 8)."""
    docs = [d["content"] for d in inews_docs[:40] if 30 < len(d["content"]) < 400][:4]
    long_doc = next(d["content"] for d in inews_docs if len(d["content"]) > 1000)
    line = lambda text: json.dumps({"text": text}, ensure_ascii=False).encode() + b"\n"  # noqa: E731
    raw = tmp_path / "mixed.jsonl"
    raw.write_bytes(line(docs[0]) + b'{"text": "\xe5\xa5\xbd\n' + line(docs[1])
                    + json.dumps({"title": docs[2]}, ensure_ascii=False).encode() + b"\n"
                    + docs[2].replace("\n", " ").encode("gb18030") + b"\n" + line(long_doc) + line(" \n ") + b'{"text": 7}\n'
                    + line(docs[3]))
    return raw, docs, long_doc


def test_skip_mode_counts_bad_records_in_the_shard_stats(mixed_jsonl, tmp_path):
    raw, docs, long_doc = mixed_jsonl
    out, stats_path = tmp_path / "out.jsonl", tmp_path / "out.stats.json"
    stats = _segment(raw, out, "jsonl", CharSegmenter(), stats_path=stats_path, on_error="skip",
                         max_document_chars=1000)
    kept = [docs[0], docs[1], docs[3]]
    sentences = [split_sentences(d) for d in kept]
    assert out.read_text(encoding="utf-8").splitlines() == [
        json.dumps({"text": "".join(map(_doc_line, s))}, ensure_ascii=False) for s in sentences]
    assert json.loads(stats_path.read_text(encoding="utf-8")) == {
        "shard": str(raw),
        "documents": 3,
        "empty_documents": 1,
        "sentences": sum(map(len, sentences)),
        "characters": sum(len(x) for s in sentences for x in s),
        "skipped": {"invalid_json": 1, "invalid_utf8": 1, "missing_key": 1, "not_a_string": 1, "too_long": 1},
        "skipped_examples": [
            f"{raw}:2:10: not a JSON line: Unterminated string starting at",
            f"{raw}:4: no key 'text'",
            f"{raw}:5: invalid UTF-8 at byte 0 of the line",
            f"{raw}:6: document of {len(long_doc):,} characters is longer than segment.max_document_chars (1,000)",
            f"{raw}:8: 'text' is not a string",
        ],
    } == {"shard": str(raw), **stats}


def test_fail_mode_stops_at_the_first_bad_record_and_leaves_no_output(mixed_jsonl, tmp_path):
    raw, _docs, _long_doc = mixed_jsonl
    out, stats_path = tmp_path / "out.jsonl", tmp_path / "out.stats.json"
    with pytest.raises(CorpusFormatError, match=rf"^{re.escape(str(raw))}:2:10: not a JSON line"):
        _segment(raw, out, "jsonl", CharSegmenter(), stats_path=stats_path, max_document_chars=1000)
    assert not out.exists() and not stats_path.exists() and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("content, reason, message", [
    ("nothing", "file_empty", ": empty file"),
    ("jsonl", "file_invalid_json", ":2:1: not valid WuDao JSON: Extra data"),  # a file in the wrong format
])
def test_a_file_that_cannot_be_read_gives_an_empty_shard_when_skipping(inews_docs, tmp_path, content, reason, message):
    raw = tmp_path / "a.json"
    raw.write_text("" if content == "nothing" else "".join(
        json.dumps({"text": d["content"]}, ensure_ascii=False) + "\n" for d in inews_docs[:3]), encoding="utf-8")
    out, stats_path = tmp_path / "out.jsonl", tmp_path / "out.stats.json"
    with pytest.raises(CorpusFormatError, match=f"^{re.escape(str(raw) + message)}$"):
        _segment(raw, out, "wudao", CharSegmenter(), stats_path=stats_path)
    assert not out.exists() and not stats_path.exists() and not list(tmp_path.glob(".*.tmp"))
    stats = _segment(raw, out, "wudao", CharSegmenter(), stats_path=stats_path, on_error="skip")
    assert out.read_bytes() == b""
    assert stats == {"documents": 0, "empty_documents": 0, "sentences": 0, "characters": 0, "skipped": {reason: 1},
                     "skipped_examples": [f"{raw}{message}"]}


def test_empty_documents_are_counted_not_errors(inews_docs, tmp_path):
    raw = tmp_path / "a.json"
    docs = [{"content": inews_docs[0]["content"]}, {"content": ""}, {"content": " \n\n "}]
    raw.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    for on_error in ("fail", "skip"):
        stats = _segment(raw, tmp_path / "a.jsonl", "wudao", CharSegmenter(), on_error=on_error)
        assert (stats["documents"], stats["empty_documents"], stats["skipped"]) == (1, 2, {})


def test_a_50mb_document_is_skipped_before_segmentation(inews_docs, tmp_path):
    unit = inews_docs[0]["content"].replace("\n", "")
    big = unit * (50_000_000 // len(unit.encode()) + 1)
    raw = tmp_path / "big.txt"
    raw.write_text("\n".join([inews_docs[1]["content"].replace("\n", " "), big, unit]) + "\n", encoding="utf-8")
    segmenter = CharSegmenter()
    stats = _segment(raw, tmp_path / "big.jsonl", "clue", segmenter, on_error="skip",
                         max_document_chars=1_000_000, max_sentence_chars=512)
    assert stats["documents"] == 2 and stats["skipped"] == {"too_long": 1} and segmenter.longest <= 512
    assert stats["skipped_examples"] == [f"{raw}:2: document of {len(big):,} characters is longer than "
                                         "segment.max_document_chars (1,000,000)"]
