"""The clean stage's parts against brute force: the kernel's measures, grouping by key in partitions, the
decisions' precedence and keeper rule, decontamination's share rule, and what the merges do with the verdicts."""

import json
import re
from functools import partial

import numpy as np
import pytest

from conftest import jsonl_settings
from ernie_pipeline.clean import _signatures
from ernie_pipeline.clean.contamination import benchmark_passages, shard_contamination, write_table
from ernie_pipeline.clean.decisions import decide, removed_documents
from ernie_pipeline.clean.detection import jaccard, shingles
from ernie_pipeline.clean.duplicates import candidate_pairs, find_duplicates
from ernie_pipeline.clean.group import Shard
from ernie_pipeline.clean.grouping import Partitions, equal_key_pairs, frequent_keys, split_ids
from ernie_pipeline.clean.settings import REASON_CODE, CleanSettings
from ernie_pipeline.clean.signatures import repeated_line_share, shard_signatures
from ernie_pipeline.corpus.document_order import document_order
from ernie_pipeline.corpus.tasks import TaskSettings
from ernie_pipeline.settings import schema_defaults


def clean_settings(**changes) -> CleanSettings:
    return CleanSettings.from_config({**schema_defaults("clean"), **changes})


def write_shard(path, texts):
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    return path


def test_minhash_agreement_estimates_the_shingle_jaccard(inews_docs):
    clean = clean_settings(bands=16, rows=16)  # 256 permutations: standard error ~0.03
    a = inews_docs[0]["content"]
    texts = [a, a[:len(a) // 2] + inews_docs[1]["content"][: len(a) // 2], inews_docs[2]["content"], a]
    signatures, keys = _signatures.minhash(texts, 5, *clean.hash_parameters(), clean.bands)
    assert signatures.shape == (4, 256) and keys.shape == (4, 16)
    assert (signatures[0] == signatures[3]).all() and (keys[0] == keys[3]).all()
    for other in (1, 2):
        estimate = (signatures[0] == signatures[other]).mean()
        assert abs(estimate - jaccard(a, texts[other], 5)) < 0.1
    assert not (keys[0] == keys[2]).any()


def test_repetition_measures_against_brute_force():
    texts = ["abcabcabcabc", "中文中文中文中文X", "abcdefghij", "ab"]
    cjk, top, repeated = _signatures.repetition(texts, 0x4E00, 0x9FA5, 2, 3)
    assert cjk.tolist() == [0, 8, 0, 0]
    for text, top_share, repeated_share in zip(texts, top, repeated):
        grams = [text[i : i + 2] for i in range(len(text) - 1)]
        best = max([grams.count(g) for g in grams] or [0])
        assert top_share == pytest.approx(min(1, best * 2 / len(text)) if best >= 2 else 0)
        covered, seen = set(), set()
        for i in range(len(text) - 2):
            if text[i : i + 3] in seen:
                covered |= set(range(i, i + 3))
            seen.add(text[i : i + 3])
        assert repeated_share == pytest.approx(len(covered) / len(text))
    assert repeated_line_share(["甲乙丙", "丁", "甲乙丙"], 7) == pytest.approx(3 / 7)


def test_each_filter_takes_its_documents_and_the_first_failing_one_names_the_reason(tmp_path):
    texts = ["这是一篇正常的中文新闻报道，内容丰富，没有重复。" * 2,  # repeats its 10-grams: 50 % covered
             "english words only, no chinese characters in this line at all",
             "短",
             "重复的一行内容\n重复的一行内容\n重复的一行内容\n另一行",
             "正常的句子，讲述了一个关于城市发展的故事。第二句话介绍了相关的背景和数据。"]
    clean = clean_settings(min_chars=3, max_repeated_ngram_share=0.4, boilerplate_min_documents=None)
    files = {kind: tmp_path / f"s.{kind}" for kind in ("docs", "minhash", "bands")}
    shard_signatures(write_shard(tmp_path / "s.jsonl", texts), files, clean, jsonl_settings(min_doc_length=0))
    quality = np.load(files["docs"])["quality"].tolist()
    assert quality == [REASON_CODE["repeated_ngrams"], REASON_CODE["cjk_share"], REASON_CODE["min_chars"],
                       REASON_CODE["repeated_lines"], 0]


@pytest.mark.parametrize("change, reruns", [
    ({"near_threshold": 0.8}, False), ({"boilerplate_min_documents": 5}, False), ({"top_ngram_chars": 3}, False),
    ({"max_boilerplate_share": 0.2}, False), ({"scope": "all", "partition_mb": 8, "decontaminate": False}, False),
    ({"shingle_chars": 4}, True), ({"seed": 7}, True), ({"boilerplate_min_documents": None}, True),
    ({"max_top_ngram_share": 0.02}, True), ({"min_cjk_share": 0.9}, True), ({"boilerplate_min_line_chars": 4}, True),
])
def test_the_signature_jobs_params_change_exactly_when_their_files_do(inews_docs, tmp_path, change, reruns):
    texts = [d["content"] for d in inews_docs[:30]] + ["english only, not one chinese character here",
                                                       "一行六个字的\n" + inews_docs[30]["content"]]

    def files(clean, name):
        out = {kind: tmp_path / f"{name}.{kind}" for kind in ("docs", "minhash", "bands")}
        shard_signatures(write_shard(tmp_path / "s.jsonl", texts), out, clean, jsonl_settings(min_doc_length=0))
        return [path.read_bytes() for path in out.values()]

    before, after = clean_settings(), clean_settings(**change)
    assert (before.signature_params() != after.signature_params()) == reruns
    assert (files(before, "before") != files(after, "after")) == reruns


def test_grouping_in_many_partitions_finds_every_shared_key_and_links_it_to_the_smallest_document(tmp_path):
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 300, 5000).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    docs = rng.permutation(10**6)[:5000].astype(np.uint64)
    partitions = Partitions(tmp_path / "p", len(keys), 16 * 100)  # ~100 pairs a partition: 50 partitions
    assert partitions.count == 50
    for start in range(0, len(keys), 700):
        partitions.add(keys[start : start + 700], docs[start : start + 700])
    pairs = equal_key_pairs(partitions)
    partitions.close()
    expected = set()
    for key in np.unique(keys):
        members = np.sort(docs[keys == key])
        expected |= {(int(m), int(members[0])) for m in members[1:]}
    assert {tuple(map(int, p)) for p in pairs} == expected
    partitions = Partitions(tmp_path / "q", len(keys), 16 * 100)
    partitions.add(keys, docs)
    counts = {int(k): int(np.count_nonzero(keys == k)) for k in np.unique(keys)}
    assert frequent_keys(partitions, 20).tolist() == sorted(k for k, c in counts.items() if c >= 20)
    partitions.close()


def _signed_shards(tmp_path, shard_texts, clean, **jsonl):
    shards = []
    for index, texts in enumerate(shard_texts):
        files = {kind: tmp_path / f"{index}.{kind}" for kind in ("docs", "minhash", "bands")}
        shard_signatures(write_shard(tmp_path / f"{index}.jsonl", texts), files, clean, jsonl_settings(**jsonl))
        shards.append(Shard("d", f"part-{index}", 0, index, files["docs"], files["minhash"], files["bands"]))
    return shards


def _duplicates(tmp_path, shards, clean):
    pair_files = {key: tmp_path / f"{key}.npy" for key in clean.candidate_keys}
    for key, path in pair_files.items():
        candidate_pairs(key, shards, path, clean.partition_mb)
    stats = find_duplicates(pair_files, shards, clean, tmp_path / "dup.npz")
    with np.load(tmp_path / "dup.npz") as data:
        return (data["ids"], data["reasons"]), stats


def test_copies_keep_the_smallest_document_whatever_the_shard_order(inews_docs, tmp_path):
    a, b, c = (d["content"] for d in inews_docs[10:13])
    near_b = b[:-3] + "。。"  # one edit at the end
    clean = clean_settings(min_cjk_share=None, max_repeated_line_share=None, max_repeated_ngram_share=None,
                           boilerplate_min_documents=None)
    shards = _signed_shards(tmp_path, [[a, near_b], [b, "Ｘ " + a.replace("，", ",")], [c, b]], clean)
    (ids, reasons), stats = _duplicates(tmp_path, shards, clean)
    _, shard, row = split_ids(ids)
    found = {(int(s), int(r)): int(code) for s, r, code in zip(shard, row, reasons)}
    # a (0,0) keeps, its copy (1,1) with a prefix goes as near; b's cluster keeps near_b (0,1), its smallest: b
    # (1,0) goes as near, b's exact copy (2,1) as exact (an exact copy of it has a smaller id)
    assert found == {(1, 1): REASON_CODE["near"], (1, 0): REASON_CODE["near"], (2, 1): REASON_CODE["exact"]}
    assert stats["cluster_sizes"] == {"2": 1, "3": 1}
    reordered = [Shard(s.dataset, s.name, 0, 2 - s.shard_index, s.docs, s.minhash, s.bands) for s in shards]
    (tmp_path / "again").mkdir()
    (ids2, _), _ = _duplicates(tmp_path / "again", reordered, clean)
    _, shard2, row2 = split_ids(ids2)
    # the same clusters, each keeping its smallest document in the new order
    assert sorted(zip((2 - shard2).tolist(), row2.tolist())) == sorted([(0, 0), (1, 0), (0, 1)])


def test_decisions_follow_the_precedence_and_count_every_removal(inews_docs, tmp_path):
    a, b = inews_docs[20]["content"], inews_docs[21]["content"]
    clean = clean_settings(boilerplate_min_documents=None)
    shards = _signed_shards(tmp_path, [[a, "english only text here", b], [a, b + "。"]], clean)
    contaminated = tmp_path / "1.contamination.npz"
    np.savez(contaminated, rows=np.array([1]), masks=np.array([1], np.uint64))  # shard 1's copy of b: contaminated
    shards[1] = Shard("d", "part-1", 0, 1, shards[1].docs, shards[1].minhash, shards[1].bands, contaminated)
    shards[0] = Shard("d", "part-0", 0, 0, shards[0].docs, shards[0].minhash, shards[0].bands, None)
    duplicates, _ = _duplicates(tmp_path, shards, clean)
    stats = decide(shards, duplicates, None, ["task/dev"], clean, tmp_path / "decisions.npz")["d"]
    by_reason = {r: v["documents"] for r, v in stats["totals"]["by_reason"].items() if v["documents"]}
    assert by_reason == {"cjk_share": 1, "exact": 1, "contamination": 1}
    assert stats["contamination_by_source"] == {"task/dev": 1}
    assert removed_documents(tmp_path / "decisions.npz", "d", [3, 2]).tolist() == [1, 3, 4]
    with pytest.raises(ValueError, match="rerun the clean stage"):
        removed_documents(tmp_path / "decisions.npz", "d", [3, 3])


def test_decontamination_counts_shared_passages_not_shared_template(inews_docs, tmp_path):
    template = "特别声明:以上文章内容仅代表作者本人观点,不代表本站观点或立场。"
    sentences = [d["content"][:60] for d in inews_docs[100:108]]
    dev = tmp_path / "dev.json"
    dev.write_text("".join(json.dumps({"sentence": s + template, "label": 0}, ensure_ascii=False) + "\n"
                           for s in sentences), encoding="utf-8")
    task = TaskSettings(train=str(dev), dev=str(dev), test=str(dev), text_keys=["sentence"], label_key="label",
                        labels=None, max_seq_len=128, max_examples=1)
    extra = tmp_path / "extra.txt"
    extra.write_text("一段需要排除的基准文本,它不应该出现在预训练语料之中。\n", encoding="utf-8")
    stats = write_table(benchmark_passages({"t": task}, (str(extra),)), 13, 5, tmp_path / "table.npz")
    assert stats["sources"]["t/dev"]["passages"] == 8  # every example, whatever max_examples
    assert stats["template_ngrams"] > 0  # the disclaimer's n-grams are in all 16 passages (dev and test)
    docs = ["无关的新闻。" + template,  # shares only the template
            "转载:" + sentences[3] + "其他内容。",  # holds most of passage 3
            "引用:一段需要排除的基准文本,它不应该出现在预训练语料之中。",
            "转载:" + sentences[5][:20] + "其他内容。",  # a sliver of passage 5
            "完全无关的文本内容,讲述城市的发展。"]
    out = tmp_path / "found.npz"
    counts = shard_contamination(write_shard(tmp_path / "s.jsonl", docs), tmp_path / "table.npz", out,
                                 jsonl_settings(min_doc_length=0), 0.5)
    assert np.load(out)["rows"].tolist() == [1, 2]
    assert counts == {"contaminated": 2, "t/dev": 1, "t/test": 1, f"file:{extra}": 1}
    any_ngram = shard_contamination(tmp_path / "s.jsonl", tmp_path / "table.npz", out,
                                    jsonl_settings(min_doc_length=0), 0.0)
    assert np.load(out)["rows"].tolist() == [1, 2, 3]  # the template is not text even for a share of 0
    assert any_ngram["contaminated"] == 3
    extra.write_bytes("好\n".encode() + "坏".encode("gbk") + b"\n")
    with pytest.raises(ValueError, match=re.escape(f"{extra}:2: invalid UTF-8") + ".*contamination_files"):
        benchmark_passages({}, (str(extra),))


@pytest.mark.parametrize("shuffle", [True, False])
def test_removed_documents_leave_the_others_in_their_order(shuffle, tmp_path):
    absent = np.array([3, 17, 40])
    removed = np.array([0, 5, 17, 41, 99])
    full = document_order(100, shuffle, 7, tmp_path / "a", absent)
    cleaned = document_order(100, shuffle, 7, tmp_path / "b", absent, removed)
    full = np.arange(97) if full is None else np.asarray(full)
    token_index = {p: p - np.searchsorted(absent, p) for p in removed if p not in absent}
    assert np.asarray(cleaned).tolist() == [d for d in full.tolist() if d not in token_index.values()]


def test_shingles_of_short_texts_are_the_text():
    assert shingles("abc", 5) == {"abc"} and shingles("abcdef", 5) == {"abcde", "bcdef"}


def test_merges_leave_out_exactly_the_removed_documents(inews_docs, tmp_path):
    from ernie_pipeline.segment.corpus_jsonl import merge_jsonl

    texts = [d["content"] for d in inews_docs[:30]]
    shards = [write_shard(tmp_path / f"{i}.jsonl", texts[i * 10 : i * 10 + 10]) for i in range(3)]
    settings = jsonl_settings(shuffle=True, seed=3)
    merge_jsonl(shards, tmp_path / "all.jsonl", settings)
    removed = np.array([0, 12, 29])
    counts = merge_jsonl(shards, tmp_path / "clean.jsonl", settings,
                         removed=lambda per_shard: removed if per_shard == [10, 10, 10] else None)
    full = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    kept = (tmp_path / "clean.jsonl").read_text(encoding="utf-8").splitlines()
    gone = {json.dumps({"text": texts[i]}, ensure_ascii=False) for i in removed}
    assert kept == [line for line in full if line not in gone]
    assert counts["removed_by_clean"] == 3 and counts["documents_written"] == 27


def test_removal_positions_refuse_another_dataset(tmp_path):
    np.savez(tmp_path / "d.npz", datasets=np.array(["a"]), kept_0=np.array([2]), positions_0=np.array([1]),
             reasons_0=np.array([1], np.uint8), shards_0=np.array(["x"]))
    with pytest.raises(ValueError, match="no decisions for dataset 'b'"):
        removed_documents(tmp_path / "d.npz", "b", [2])
    assert partial(removed_documents, tmp_path / "d.npz", "a")([2]).tolist() == [1]
