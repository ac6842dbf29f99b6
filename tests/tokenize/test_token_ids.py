"""Stage 3: exact ids against paddlenlp's ErnieTokenizer, file formats, real readers, bad input."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import REPO, jsonl_settings, require
from ernie_pipeline.tokenize.merge import merge_ids
from ernie_pipeline.tokenize.token_files import MEGATRON_MAGIC, IdsDataset, megatron_paths_for
from ernie_pipeline.corpus.document_order import seeded_permutation
from ernie_pipeline.tokenize.encoder import DocumentEncoder
from ernie_pipeline.tokenize.merge import merge_shards
from ernie_pipeline.tokenize.settings import TokenizeSettings
from ernie_pipeline.tokenize.shard import tokenize_shard
from ernie_pipeline.tokenize.tokenizer import check_same_vocabulary, check_vocab_file, load_tokenizer, vocab_fingerprint
from ernie_pipeline.tokenize.whole_word import ReferenceConverter, mark_whole_words, split_words

JSONL = jsonl_settings()  # the schema's: key text, documents longer than 10 characters, seed 1234


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
def tokenizer(artifacts):
    return load_tokenizer(artifacts["vocab_dir"])


@pytest.fixture(scope="module")
def reference(tokenizer):
    return ReferenceConverter(tokenizer)


def _split(ids, lens, counts):
    """Flat encoder output -> documents as lists of sentence id lists."""
    documents, token, sentence = [], 0, 0
    for count in counts:
        document = []
        for length in lens[sentence : sentence + count]:
            document.append([int(i) for i in ids[token : token + length]])
            token += length
        sentence += count
        documents.append(document)
    return documents


def _stored_documents(prefix):
    data = IdsDataset(prefix)
    return [[data[s].tolist() for s in range(data.docs[d], data.docs[d + 1])] for d in range(data.num_docs)]


def _shard(artifacts, number=0):
    return artifacts["results"] / "segmented" / "tiny" / f"part-{number:04d}.json.jsonl"


def test_merged_ids_are_paddlenlps_ids_of_the_corpus_in_its_order(reference, artifacts):
    """Every document of the workflow's token files equals upstream's Converter (paddlenlp ErnieTokenizer +
    get_whole_word_mask_tokens) on the same line of the corpus jsonl: same ids, same seeded order."""
    lines = artifacts["corpus"].read_text(encoding="utf-8").splitlines()
    stored = _stored_documents(artifacts["prefix"])
    assert len(stored) == len(lines) > 200
    differing = [k for k, (line, doc) in enumerate(zip(lines, stored))
                 if reference.document_ids(json.loads(line)["text"]) != doc]
    assert differing == []


def test_chinese_continuations_use_extended_ids(reference):
    ids = reference.sentence_ids("百度 是 一家 高科技 公司 。")
    tokens = reference.tokenizer.convert_ids_to_tokens(ids)
    assert tokens == ["百", "##度", "是", "一", "##家", "高", "##科", "##技", "公", "##司", "。"]
    base = len(reference.tokenizer.vocab)
    assert all((i >= base) == t.startswith("##") for i, t in zip(ids, tokens))


def test_native_engine_equals_paddlenlp_on_every_code_point(tokenizer, reference):
    """Each BMP code point, and every 16th astral one, in a whole-word context: identical ids."""
    encoder = DocumentEncoder(tokenizer)
    assert encoder.native is not None, "ernie_pipeline.tokenize._wordpiece is not built (make setup)"
    code_points = [cp for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF] + list(range(0x10000, 0x110000, 16))
    texts = [f"中国{c}ab {c}{c}x 人民 A{c}\n{c} 了" for c in map(chr, code_points)]
    documents = _split(*encoder.encode(texts))
    differing = [hex(cp) for cp, text, doc in zip(code_points, texts, documents) if reference.document_ids(text) != doc]
    assert differing == []
    assert 0 < encoder.reference_documents < 100  # final sigma and a few combining marks went to paddlenlp


def test_documents_the_native_engine_cannot_decide_go_to_paddlenlp(tokenizer, reference, artifacts):
    real = [json.loads(line)["text"] for line in _shard(artifacts).read_text(encoding="utf-8").splitlines()[:6]]
    texts = [real[0], real[1] + " [SEP] 在", "ΟΔΟΣ " + real[2], real[3], "[MASK]" + real[4], real[5],
             json.loads('"\\ud800 好"') + real[0]]  # a lone surrogate, as json.loads passes it through
    encoder = DocumentEncoder(tokenizer)
    assert _split(*encoder.encode(texts)) == [reference.document_ids(t) for t in texts]
    assert encoder.reference_documents == 4


SPECIALS = ("[SEP]", "[CLS]", "[MASK]", "[PAD]", "[UNK]")


def test_special_token_text_in_segmented_documents_gives_paddlenlps_ids(tokenizer, inews_docs):
    """LAC cuts the text "[SEP]" into "[ SEP ]"; paddlenlp tokenises the joined words and so still sees the
    special token: each one, at the start, inside Chinese words, beside English and at the end of real
    sentences, segmented by LAC, and with the delimiter at every place inside the literal."""
    from ernie_pipeline.segment.segmenters import make_segmenter
    from ernie_pipeline.segment.sentences import split_sentences

    sentences = [s for d in inews_docs[:30] for s in split_sentences(d["content"]) if 20 < len(s) < 80][:10]
    raw = []
    for k, special in enumerate(SPECIALS):
        a, b = sentences[2 * k], sentences[2 * k + 1]
        raw += [special + a, a[:7] + special + a[7:], "ERNIE" + special + "model " + b, b + special,
                a[:3] + special + special + b[:5] + special.lower()]
    segmented = [" ".join(words) for words in make_segmenter("seg", batch_size=8)(raw)]
    assert "[ SEP ]" in segmented[0]  # what made the compiled engine miss the literal
    placements = [" ".join(special), special[:2] + " " + special[2:], " " + special + " ", special[:-1] + "  " + "]"]
    texts = segmented + [f"中国 {p} 人民" for special in SPECIALS for p in placements[:3]] + \
        [f"中国{placements[3]}人民" for special in SPECIALS]
    texts.append("\n".join(segmented[:5]))  # several sentences of one document
    reference = ReferenceConverter(tokenizer)
    expected = [reference.document_ids(t) for t in texts]
    encoder = DocumentEncoder(tokenizer)
    assert _split(*encoder.encode(texts)) == expected
    special_ids = set(tokenizer.convert_tokens_to_ids(list(SPECIALS)))
    found = {i for doc in expected for sentence in doc for i in sentence} & special_ids
    assert found == special_ids  # every special token really is in the expected ids


@pytest.mark.parametrize("settings", [
    TokenizeSettings(whole_word=False),
    TokenizeSettings(split_sentences=False),
    TokenizeSettings(max_word_length=2),
    TokenizeSettings(word_delimiter="|"),
], ids=["no_whole_word", "one_sentence_per_document", "max_word_length_2", "bar_delimiter"])
def test_upstream_options_give_the_same_ids_in_both_engines(settings, tokenizer, artifacts):
    spaced = [json.loads(line)["text"] for line in _shard(artifacts, 1).read_text(encoding="utf-8").splitlines()[:40]]
    assert not any(settings.word_delimiter in t for t in spaced if settings.word_delimiter != " ")
    texts = [t.replace(" ", settings.word_delimiter) for t in spaced]
    expected = [ReferenceConverter(tokenizer, settings).document_ids(t) for t in texts]
    assert _split(*DocumentEncoder(tokenizer, settings).encode(texts)) == expected
    flat = [i for doc in expected for sentence in doc for i in sentence]
    if settings.whole_word:
        assert max(flat) >= tokenizer.vocab_size  # ## ids present
    else:
        assert max(flat) < tokenizer.vocab_size
    if not settings.split_sentences:
        assert all(len(doc) == 1 for doc in expected)
    if settings.word_delimiter != " ":  # the same words as with spaces, so the same ids (but for literal spaces)
        plain = [k for k, t in enumerate(spaced) if "  " not in t]
        with_spaces = [ReferenceConverter(tokenizer).document_ids(spaced[k]) for k in plain]
        assert len(plain) > 20 and [expected[k] for k in plain] == with_spaces


def test_append_eos_needs_an_eos_token(tokenizer):
    for engine in ("native", "paddlenlp"):
        with pytest.raises(ValueError, match="append_eos: .* has no eos token"):
            DocumentEncoder(tokenizer, TokenizeSettings(append_eos=True, engine=engine))


def test_engines_write_byte_identical_shard_files_equal_to_the_workflows(artifacts, tmp_path):
    """paddlenlp, the native engine from a loaded tokenizer, and the workflow's job (native engine from the
    saved tables) write the same files."""
    shard = _shard(artifacts)
    native = tokenize_shard(shard, artifacts["vocab_dir"], tmp_path / "n", JSONL, stats_path=tmp_path / "n.json")
    slow = tokenize_shard(shard, artifacts["vocab_dir"], tmp_path / "p", JSONL, stats_path=tmp_path / "p.json",
                          settings=TokenizeSettings(engine="paddlenlp"))
    workflow = artifacts["results"] / "token_ids" / "tiny" / "part-0000.json"
    for suffix in ("_ids.npy", "_idx.npz"):
        data = (tmp_path / f"n{suffix}").read_bytes()
        assert data == (tmp_path / f"p{suffix}").read_bytes() == open(f"{workflow}{suffix}", "rb").read()
    assert (tmp_path / "n.json").read_bytes() == open(f"{workflow}.stats.json", "rb").read()
    assert native["reference_documents"] == 0 and slow["reference_documents"] == native["documents_read"] - native["dropped_short"]
    assert {k: v for k, v in native.items() if k not in ("engine", "reference_documents", "seconds", "setup_seconds", "mb_per_s")} == \
        {k: v for k, v in slow.items() if k not in ("engine", "reference_documents", "seconds", "setup_seconds", "mb_per_s")}


@pytest.mark.parametrize("scheme", ["tokenizer", "scheme2/tokenizer"])
def test_the_vocabulary_read_without_paddlenlp_is_the_tokenizers(artifacts, scheme):
    """vocab.txt with the ##X extension read without paddlenlp (what the torch backend trains with): the same
    fingerprint as paddlenlp's ErnieTokenizer after extend_chinese_char, and the same masking vocabulary."""
    import numpy as np

    from ernie_pipeline.index.masking import Vocab
    from ernie_pipeline.tokenize.vocabulary import Vocabulary

    folder = artifacts["results"] / "vocab" / scheme
    tokenizer, vocabulary = load_tokenizer(folder), Vocabulary.from_folder(folder)
    assert vocabulary.fingerprint == vocab_fingerprint(tokenizer) and len(vocabulary) == len(tokenizer.vocab)
    # scheme 1 holds every CJK character (each gets a ##X); scheme 2's sentencepiece vocabulary only the corpus's
    assert len(vocabulary.added) == len(tokenizer.added_tokens_encoder) > (20000 if scheme == "tokenizer" else 5000)
    ours, theirs = Vocab.from_vocabulary(vocabulary), Vocab.from_tokenizer(tokenizer)
    for field in ("cls_id", "sep_id", "mask_id", "pad_id", "size"):
        assert getattr(ours, field) == getattr(theirs, field)
    assert np.array_equal(ours.is_continuation, theirs.is_continuation) and np.array_equal(ours.to_base, theirs.to_base)


def test_shard_job_with_saved_tables_does_not_import_paddlenlp(artifacts, tmp_path):
    """The tables artifact lets a shard's job start without paddlenlp (about 10 s of imports)."""
    code = ("import sys; import ernie_pipeline; from ernie_pipeline.tokenize.shard import tokenize_shard; "
            "from ernie_pipeline.segment.settings import JsonlSettings; from ernie_pipeline.settings import schema_defaults; "
            "tokenize_shard(*sys.argv[1:4], JsonlSettings.from_config(schema_defaults('jsonl')), tables_path=sys.argv[4]); "
            " print(sorted({'paddle', 'paddlenlp'} & set(sys.modules)))")
    tables = artifacts["results"] / "token_ids" / "tokenizer_tables.npz"
    result = subprocess.run([sys.executable, "-c", code, str(_shard(artifacts)), str(artifacts["vocab_dir"]),
                             str(tmp_path / "t"), str(tables)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-2] == "[]"
    workflow = artifacts["results"] / "token_ids" / "tiny" / "part-0000.json"
    assert (tmp_path / "t_ids.npy").read_bytes() == open(f"{workflow}_ids.npy", "rb").read()


def test_tables_round_trip(tokenizer, artifacts):
    from ernie_pipeline.tokenize.tables import TokenizerTables

    saved = TokenizerTables.load(artifacts["results"] / "token_ids" / "tokenizer_tables.npz")
    fresh = TokenizerTables.from_tokenizer(tokenizer, saved.fingerprint)
    assert np.array_equal(saved.kinds, fresh.kinds)
    assert (saved.mapped, saved.base_vocab, saved.added_vocab, saved.literals) == \
        (fresh.mapped, fresh.base_vocab, fresh.added_vocab, fresh.literals)
    assert (saved.unk_id, saved.vocab_size, saved.eos_id) == (fresh.unk_id, fresh.vocab_size, None)


def test_file_layout(artifacts):
    prefix = artifacts["prefix"]
    ids = np.load(f"{prefix}_ids.npy")
    assert ids.dtype == np.uint16 and ids.ndim == 1
    with zipfile.ZipFile(f"{prefix}_idx.npz") as archive:
        assert sorted(archive.namelist()) == ["docs.npy", "lens.npy"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
    index = np.load(f"{prefix}_idx.npz")
    lens, docs = index["lens"], index["docs"]
    assert lens.dtype == np.int32 and docs.dtype == np.int64
    assert lens.sum() == ids.size and docs[0] == 0 and docs[-1] == lens.size
    assert (lens > 0).all() and (np.diff(docs) > 0).all()
    bin_path, idx_path = megatron_paths_for(prefix)
    assert bin_path.read_bytes() == ids.tobytes()
    header = idx_path.read_bytes()[:34]
    assert header[:9] == MEGATRON_MAGIC and header[9:] == (1).to_bytes(8, "little") + bytes([8]) + \
        lens.size.to_bytes(8, "little") + docs.size.to_bytes(8, "little")
    stats = json.loads(open(f"{prefix}.stats.json", encoding="utf-8").read())["merge"]
    assert (stats["documents"], stats["sentences"], stats["tokens"]) == (docs.size - 1, lens.size, ids.size)


def test_merge_is_reproducible_and_shuffles_whole_documents(artifacts, tmp_path):
    from functools import partial

    from ernie_pipeline.clean.decisions import removed_documents

    shards = [artifacts["results"] / "token_ids" / "tiny" / f"part-{i:04d}.json" for i in range(2)]
    stats = [f"{s}.stats.json" for s in shards]
    decisions = artifacts["results"] / "clean" / "tiny" / "decisions.npz"  # what the clean stage removes
    merge_shards(shards, stats, tmp_path / "again", jsonl_settings(seed=artifacts["config"]["jsonl"]["seed"]),
                 megatron=True, removed=partial(removed_documents, decisions, "tiny"))
    for suffix in ("_ids.npy", "_idx.npz", ".bin", ".idx"):
        assert (tmp_path / f"again{suffix}").read_bytes() == open(f"{artifacts['prefix']}{suffix}", "rb").read()
    merge_shards(shards, stats, tmp_path / "plain", jsonl_settings(shuffle=False))
    plain = _stored_documents(tmp_path / "plain")
    assert plain == _stored_documents(shards[0]) + _stored_documents(shards[1])
    shuffled = _stored_documents(artifacts["prefix"])
    # the permutation is drawn over every document, then the removed ones are taken out
    removed = set(np.load(decisions)["positions_0"].tolist())
    order = [k for k in np.random.RandomState(artifacts["config"]["jsonl"]["seed"]).permutation(len(plain))
             if k not in removed]
    assert removed and shuffled == [plain[k] for k in order] and shuffled != plain
    # the external shuffle with buckets of a few documents each: the same bytes as one bucket
    merge_ids(shards, tmp_path / "buckets", np.array(order), megatron=True, bucket_bytes=20_000)
    assert len(list(tmp_path.glob(".merge.*"))) == 0
    for suffix in ("_ids.npy", "_idx.npz", ".bin", ".idx"):
        assert (tmp_path / f"buckets{suffix}").read_bytes() == open(f"{artifacts['prefix']}{suffix}", "rb").read()


def test_corpus_jsonl_and_token_files_share_one_order_when_a_document_tokenises_to_nothing(
        reference, artifacts, tmp_path):
    """A document of private-use characters passes the length filter but tokenises to nothing: the token
    files leave it out and keep the corpus jsonl's order for every other document (upstream's relation)."""
    from ernie_pipeline.segment.corpus_jsonl import merge_jsonl

    nothing = json.dumps({"text": "\ue000" * 12 + " \ue001\ue002", }, ensure_ascii=False) + "\n"
    shards = []
    for number in range(2):
        lines = _shard(artifacts, number).read_text(encoding="utf-8").splitlines(keepends=True)[:6]
        lines.insert(2 + number, nothing)
        shards.append(_write(tmp_path / f"s{number}.jsonl", "".join(lines)))
    merge_jsonl(shards, tmp_path / "corpus.jsonl", jsonl_settings(seed=7))
    corpus = [json.loads(line)["text"] for line in (tmp_path / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(corpus) == 14 and sum(reference.document_ids(t) == [] for t in corpus) == 2
    prefixes = [tmp_path / "ids" / f"s{number}" for number in range(2)]
    for shard, prefix in zip(shards, prefixes):
        stats = tokenize_shard(shard, artifacts["vocab_dir"], prefix, JSONL, stats_path=f"{prefix}.stats.json")
        assert (stats["empty_documents"], stats["documents"]) == (1, 6)
    merge_shards(prefixes, [f"{p}.stats.json" for p in prefixes], tmp_path / "merged", jsonl_settings(seed=7))
    expected = [ids for ids in map(reference.document_ids, corpus) if ids]
    assert _stored_documents(tmp_path / "merged") == expected


@pytest.mark.parametrize("documents", [1, 2, 1000, 70_001])
def test_seeded_permutation_in_a_file_is_numpys(tmp_path, documents):
    order = seeded_permutation(documents, 1234, tmp_path / "order")
    assert (np.asarray(order) == np.random.RandomState(1234).permutation(documents)).all()


def test_paddlenlp_readers_return_the_same_sentences(artifacts):
    from paddlenlp.data.indexed_dataset import CompatibleIndexedDataset, MMapIndexedDataset

    ours = IdsDataset(artifacts["prefix"])
    for theirs in (CompatibleIndexedDataset(str(artifacts["prefix"])), MMapIndexedDataset(str(artifacts["prefix"]))):
        assert len(theirs) == len(ours) and np.array_equal(theirs.doc_idx, ours.docs)
        assert all(np.array_equal(np.asarray(theirs[i]), ours[i]) for i in range(len(ours)))


def test_the_reader_maps_the_files_and_holds_one_offset_per_block(artifacts, tmp_path):
    """IdsDataset memory-maps lens and docs in the npz itself (no per-sentence array in memory), finds every
    sentence from its block's offset, pickles small (DataLoader workers), and still reads a compressed npz."""
    import pickle

    from ernie_pipeline.tokenize.token_files import OFFSET_BLOCK, paths_for

    data = IdsDataset(artifacts["prefix"])
    ids_path, idx_path = paths_for(artifacts["prefix"])
    assert len(data) > 2 * OFFSET_BLOCK  # sentences in several blocks
    for array in (data.lens, data.docs):
        assert isinstance(array.base, np.memmap) and os.path.samefile(array.base.filename, idx_path)
    assert data.block_offsets.nbytes <= 8 * (len(data) // OFFSET_BLOCK + 2)
    with np.load(idx_path) as index:
        lens, docs = index["lens"], index["docs"]
    assert np.array_equal(data.lens, lens) and np.array_equal(data.docs, docs)
    offsets = np.concatenate(([0], np.cumsum(lens, dtype=np.int64)))
    ids = np.load(ids_path)
    for sentence in [0, 1, OFFSET_BLOCK - 1, OFFSET_BLOCK, OFFSET_BLOCK + 1, 2 * OFFSET_BLOCK, len(data) - 1]:
        assert data.offset(sentence) == offsets[sentence]
        assert np.array_equal(data[sentence], ids[offsets[sentence] : offsets[sentence + 1]])
    assert data.offset(len(data)) == ids.size
    assert all(np.array_equal(data[s], ids[offsets[s] : offsets[s + 1]]) for s in range(len(data)))
    run = data.sentences(OFFSET_BLOCK - 3, OFFSET_BLOCK + 5)
    assert all(np.array_equal(a, data[OFFSET_BLOCK - 3 + k]) for k, a in enumerate(run))
    pickled = pickle.dumps(data)
    assert len(pickled) < 1000 + data.block_offsets.nbytes
    copy = pickle.loads(pickled)
    assert np.array_equal(copy.block_offsets, data.block_offsets) and np.array_equal(copy[len(data) - 1], data[len(data) - 1])
    # an npz written by np.savez_compressed (someone else's tool) is read into memory instead
    compressed = tmp_path / "c"
    shutil.copy(ids_path, paths_for(compressed)[0])
    np.savez_compressed(paths_for(compressed)[1], lens=lens, docs=docs)
    other = IdsDataset(compressed)
    assert not isinstance(other.lens.base, np.memmap)
    assert all(np.array_equal(other[s], data[s]) for s in range(0, len(data), 7))
    np.savez(paths_for(compressed)[1], lens=lens[:-1], docs=docs)
    with pytest.raises(ValueError, match="ids/lens/docs sizes disagree"):
        IdsDataset(compressed)


@pytest.mark.torch
def test_megatron_core_reads_our_bin_idx(artifacts, tmp_path):
    """megatron-core's IndexedDataset (PyPI megatron-core, in .venv-torch: torch and Paddle do not share a
    process) reads the .bin/.idx pair back: the same sentences, sizes and document index."""
    python = REPO / ".venv-torch" / "bin" / "python"
    require(python.is_file(), "needs .venv-torch: `make torch-env` (`make test` builds it)")
    out = tmp_path / "megatron.npz"
    result = subprocess.run([str(python), str(REPO / "tests/tools/read_megatron.py"), str(artifacts["prefix"]), str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = np.load(out)
    ours = IdsDataset(artifacts["prefix"])
    assert str(theirs["dtype"]) == "uint16"
    assert np.array_equal(theirs["sizes"], ours.lens) and np.array_equal(theirs["document_indices"], ours.docs)
    assert np.array_equal(theirs["tokens"], np.asarray(ours.ids))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, message", [
    ('{"text": "你好 。"}\n{"text": \n', r"bad\.jsonl:2:\d+: not a JSON line"),
    ('{"text": "你好 。"}\n{"body": "再见 。"}\n', r"bad\.jsonl:2: no key 'text'"),
], ids=["not_json", "missing_key"])
def test_bad_jsonl_line_names_file_and_line_and_leaves_nothing(content, message, artifacts, tmp_path):
    bad = _write(tmp_path / "bad.jsonl", content)
    with pytest.raises(ValueError, match=message):
        tokenize_shard(bad, artifacts["vocab_dir"], tmp_path / "out" / "bad", JSONL, stats_path=tmp_path / "out" / "bad.json")
    assert not list((tmp_path / "out").iterdir())


def test_shards_without_documents_give_empty_token_files_that_merge(artifacts, tmp_path):
    """A skipped raw file's empty shard and a shard of documents all at most min_doc_length characters give a
    valid empty pair (in either on_error mode); the merge counts them; a dataset of nothing but such shards is
    an error naming the output."""
    vocab = artifacts["vocab_dir"]
    empty = tokenize_shard(_write(tmp_path / "empty.jsonl", ""), vocab, tmp_path / "e", JSONL,
                           stats_path=tmp_path / "e.stats.json")
    short = tokenize_shard(_write(tmp_path / "short.jsonl", '{"text": "短 。"}\n{"text": "也 很 短 。"}\n'), vocab,
                           tmp_path / "s", JSONL, stats_path=tmp_path / "s.stats.json")
    assert (empty["documents"], empty["documents_read"]) == (0, 0)
    assert (short["documents"], short["documents_read"], short["dropped_short"]) == (0, 2, 2)
    for prefix in ("e", "s"):
        data = IdsDataset(tmp_path / prefix)
        assert (data.num_docs, len(data.lens), data.ids.size, data.ids.dtype) == (0, 0, 0, np.uint16)
    real = artifacts["results"] / "token_ids" / "tiny" / "part-0000.json"
    prefixes, stats = [tmp_path / "e", real, tmp_path / "s"], [tmp_path / "e.stats.json", f"{real}.stats.json",
                                                               tmp_path / "s.stats.json"]
    merged = merge_shards(prefixes, stats, tmp_path / "merged", jsonl_settings(seed=3))
    alone = merge_shards([real], [f"{real}.stats.json"], tmp_path / "alone", jsonl_settings(seed=3))
    assert merged["shards_without_documents"] == 2 and alone["shards_without_documents"] == 0
    for suffix in ("_ids.npy", "_idx.npz"):
        assert (tmp_path / f"merged{suffix}").read_bytes() == (tmp_path / f"alone{suffix}").read_bytes()
    with pytest.raises(ValueError, match=r"nothing: none of the 2 shards has a document"):
        merge_shards(prefixes[::2], stats[::2], tmp_path / "nothing", JSONL)
    assert not list(tmp_path.glob("nothing*"))


def test_merge_refuses_shards_of_another_vocabulary(artifacts, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    _write(other / "vocab.txt", (artifacts["vocab_dir"] / "vocab.txt").read_text(encoding="utf-8") + "extra\n")
    shard = _shard(artifacts, 1)
    tokenize_shard(shard, other, tmp_path / "b", JSONL, stats_path=tmp_path / "b.stats.json")
    workflow = artifacts["results"] / "token_ids" / "tiny" / "part-0000.json"
    with pytest.raises(ValueError, match=r"b\.stats\.json: tokenised with another vocabulary"):
        merge_shards([workflow, tmp_path / "b"], [f"{workflow}.stats.json", tmp_path / "b.stats.json"], tmp_path / "m", JSONL)
    assert not list(tmp_path.glob("m*")) and not list(tmp_path.glob(".m*"))
    # training refuses the workflow's token files with this other vocabulary, and takes them with their own
    check_same_vocabulary(artifacts["prefix"], vocab_fingerprint(load_tokenizer(artifacts["vocab_dir"])))
    with pytest.raises(ValueError, match=r"tiny_ids\.npy was tokenised with another vocabulary"):
        check_same_vocabulary(artifacts["prefix"], vocab_fingerprint(load_tokenizer(other)))


def test_vocab_files_that_would_give_wrong_ids_are_refused(artifacts, tmp_path):
    lines = (artifacts["vocab_dir"] / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "dup").mkdir()
    _write(tmp_path / "dup" / "vocab.txt", "\n".join(lines + [lines[7]]) + "\n")
    with pytest.raises(ValueError, match=rf"vocab\.txt:{len(lines) + 1}: token .* repeats line 8"):
        load_tokenizer(tmp_path / "dup")
    (tmp_path / "nomask").mkdir()
    _write(tmp_path / "nomask" / "vocab.txt", "\n".join(t for t in lines if t != "[MASK]") + "\n")
    with pytest.raises(ValueError, match=r"special tokens \['\[MASK\]'\] missing"):
        check_vocab_file(tmp_path / "nomask" / "vocab.txt")
    # below 65,535 tokens (uint16 files) but too many for the ##X ids on top
    (tmp_path / "big").mkdir()
    cjk = [chr(cp) for cp in range(0x4E00, 0x9FA6)]
    _write(tmp_path / "big" / "vocab.txt", "\n".join(lines[:5] + cjk + [f"filler{i}" for i in range(30000)]) + "\n")
    with pytest.raises(ValueError, match=r"big: 71,809 ids with the Chinese '##' extension, more than the 65,536"):
        load_tokenizer(tmp_path / "big")
    with pytest.raises(FileNotFoundError, match="no such tokenizer folder"):
        load_tokenizer(tmp_path / "missing")
