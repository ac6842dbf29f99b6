import json
import zipfile

import numpy as np
import pytest

from ernie_pipeline.indexed import IdsDataset
from ernie_pipeline.token_ids import Converter, convert_jsonl, mark_whole_words, split_words


def test_mark_whole_words_upstream_example():
    tokens = ["通", "过", "利", "用", "me", "##rc", "##er", "核"]
    assert mark_whole_words(tokens, {"通过", "利用", "mercer", "核"}) == \
        ["通", "##过", "利", "##用", "me", "##rc", "##er", "核"]


def test_mark_whole_words_longest_match_and_limit():
    tokens = list("中华人民共和国成立")
    words = {"中华", "中华人民共和国", "成立"}
    assert mark_whole_words(tokens, words, 7) == ["中"] + ["##" + c for c in "华人民共和国"] + ["成", "##立"]
    assert mark_whole_words(tokens, words, 6)[:2] == ["中", "##华"]  # 7-token word too long: shorter match


def test_split_words_restores_literal_spaces():
    assert split_words("hello   world 你好") == ["hello", "", " ", "world", "你好"]
    assert "".join(split_words("hello   world 你好")) == "hello world你好"


@pytest.fixture(scope="module")
def converter(artifacts):
    return Converter(artifacts["vocab_dir"])


def test_ids_match_ernie_tokenizer(converter, artifacts):
    """Every id equals ErnieTokenizer's own id of the (##-marked) token, on real corpus documents.

    As upstream, a non-Chinese token inside a matched word is ##-marked too and may become [UNK]."""
    tokenizer = converter.tokenizer
    data = IdsDataset(artifacts["prefix"])
    lines = artifacts["corpus"].read_text(encoding="utf-8").splitlines()
    sentence = 0
    for line in lines[:30]:
        for text in json.loads(line)["text"].split("\n"):
            if not text.strip():
                continue
            words = split_words(text)
            expected_tokens = mark_whole_words(tokenizer.tokenize("".join(words)), set(words))
            assert [int(x) for x in data[sentence]] == tokenizer.convert_tokens_to_ids(expected_tokens)
            sentence += 1
    assert sentence > 300


def test_chinese_continuations_use_extended_ids(converter):
    ids = converter.sentence_ids("百度 是 一家 高科技 公司 。")
    tokens = converter.tokenizer.convert_ids_to_tokens(ids)
    assert tokens == ["百", "##度", "是", "一", "##家", "高", "##科", "##技", "公", "##司", "。"]
    base = len(converter.tokenizer.vocab)
    assert all((i >= base) == t.startswith("##") for i, t in zip(ids, tokens))


def test_file_layout(artifacts):
    ids = np.load(f"{artifacts['prefix']}_ids.npy")
    assert ids.dtype == np.uint16 and ids.ndim == 1
    with zipfile.ZipFile(f"{artifacts['prefix']}_idx.npz") as archive:
        assert sorted(archive.namelist()) == ["docs.npy", "lens.npy"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    index = np.load(f"{artifacts['prefix']}_idx.npz")
    lens, docs = index["lens"], index["docs"]
    assert lens.dtype == np.int32 and docs.dtype == np.int64
    assert lens.sum() == ids.size and docs[0] == 0 and docs[-1] == lens.size
    assert (lens > 0).all() and (np.diff(docs) > 0).all()
    assert docs.size - 1 == len(artifacts["corpus"].read_text(encoding="utf-8").splitlines())


def test_rerun_is_byte_identical_and_readable_by_paddlenlp(artifacts, tmp_path):
    from paddlenlp.data.indexed_dataset import make_dataset

    prefix = tmp_path / "again"
    convert_jsonl(artifacts["corpus"], artifacts["vocab_dir"], prefix, workers=2)
    for suffix in ("_ids.npy", "_idx.npz"):
        assert open(f"{prefix}{suffix}", "rb").read() == open(f"{artifacts['prefix']}{suffix}", "rb").read()
    ours = IdsDataset(prefix)
    theirs = make_dataset(str(prefix), "mmap")
    assert len(theirs) == len(ours) and np.array_equal(theirs._doc_idx, ours.docs)
    for i in (0, 1, len(ours) // 2, len(ours) - 1):
        assert np.array_equal(np.asarray(theirs[i]), ours[i])


def test_bad_jsonl_line_leaves_nothing(artifacts, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "你好 。\\n"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2:"):
        convert_jsonl(bad, artifacts["vocab_dir"], tmp_path / "bad")
    assert not list(tmp_path.glob("bad_*")) and not list(tmp_path.glob(".*"))
