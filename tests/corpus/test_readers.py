import gzip
import json
import re

import pytest
import zstandard

from ernie_pipeline.corpus.readers import MAX_EXAMPLES, CorpusFormatError, load_documents, read_documents, read_records


@pytest.fixture(scope="module")
def contents(inews_docs):
    # real documents; replace inner blank lines so that the plain-text layouts can hold them
    return [d["content"].replace("\n\n", "\n").strip() for d in inews_docs[:30] if d["content"].strip()]


def _write(path, data: bytes):
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("compression", ["", ".gz", ".zst"])
def test_every_format_and_compression(contents, tmp_path, compression):
    one_line = [c.replace("\n", " ") for c in contents]
    layouts = {
        "wudao": (".json", json.dumps([{"id": i, "content": c} for i, c in enumerate(contents)], ensure_ascii=False), contents),
        "jsonl": (".jsonl", "".join(json.dumps({"text": c}, ensure_ascii=False) + "\n" for c in contents), contents),
        "clue": (".txt", "\n".join(one_line) + "\n", one_line),
        "text": (".txt", "\n\n".join(contents) + "\n", contents),
    }
    for fmt, (suffix, text, expected) in layouts.items():
        path = _write(tmp_path / f"{fmt}{suffix}{compression}", text.encode("utf-8"))
        assert list(read_documents(path, fmt)) == expected, fmt


@pytest.mark.parametrize("compression", ["", ".gz"])
def test_a_utf8_byte_order_mark_is_dropped_in_every_format(contents, tmp_path, compression):
    """Editors on Windows write UTF-8 with a BOM: a WuDao file with one was refused whole, a jsonl file lost its
    first line under skip, clue/text kept U+FEFF in the first document."""
    one_line = [c.replace("\n", " ") for c in contents[:5]]
    layouts = {
        "wudao": (".json", json.dumps([{"content": c} for c in contents[:5]], ensure_ascii=False), contents[:5]),
        "jsonl": (".jsonl", "".join(json.dumps({"text": c}, ensure_ascii=False) + "\n" for c in contents[:5]),
                  contents[:5]),
        "clue": (".txt", "\n".join(one_line) + "\n", one_line),
        "text": (".txt", "\n\n".join(contents[:5]) + "\n", contents[:5]),
    }
    for fmt, (suffix, text, expected) in layouts.items():
        path = _write(tmp_path / f"{fmt}{suffix}{compression}", "\ufeff".encode() + text.encode("utf-8"))
        assert list(read_documents(path, fmt)) == expected, fmt
        assert load_documents(path, fmt, on_error="skip")[0] == expected, fmt


@pytest.fixture(scope="module")
def binaries(inews_wheel):
    """Real binary files: this Python's executable (ELF) and the sample's wheel (a zip archive)."""
    import sys

    return {"executable": open(sys.executable, "rb").read(), "wheel": open(inews_wheel, "rb").read()}


@pytest.mark.parametrize("fmt, suffix", [("clue", ".txt"), ("text", ".txt"), ("jsonl", ".jsonl"), ("wudao", ".json")])
@pytest.mark.parametrize("kind", ["executable", "wheel"])
def test_a_binary_file_with_a_text_suffix_is_refused_whole(binaries, tmp_path, fmt, suffix, kind):
    """An executable saved as .txt gave ~190 garbage documents under skip; NUL bytes refuse the file."""
    path = _write(tmp_path / f"{kind}{suffix}", binaries[kind])
    documents, skipped = load_documents(path, fmt, on_error="skip")
    assert (documents, skipped.counts) == ([], {"file_binary": 1})
    with pytest.raises(CorpusFormatError, match=rf"{kind}\{suffix}(:\d+)?: NUL byte .* a binary file"):
        list(read_documents(path, fmt))


def test_a_file_mostly_not_utf8_is_refused_whole_under_skip(contents, tmp_path):
    """Real Chinese text in GB18030 (no NUL bytes): more than segment.max_invalid_utf8_share of its lines are not
    UTF-8, so it is another encoding, not a few bad lines; below the share the bad lines alone are skipped."""
    lines = [c.replace("\n", " ") for c in contents[:20]]
    path = _write(tmp_path / "gbk.txt", "\n".join(lines[:18]).encode("gb18030") + b"\nok line one\nok line two\n")
    documents, skipped = load_documents(path, "clue", on_error="skip")
    assert (documents, skipped.counts) == ([], {"file_binary": 1})
    assert "18 of 20 records are not UTF-8" in skipped.examples[0]
    documents, skipped = load_documents(path, "clue", on_error="skip", max_invalid_share=0.95)
    assert (documents, skipped.counts) == (["ok line one", "ok line two"], {"invalid_utf8": 18})


def test_custom_keys(tmp_path):
    path = _write(tmp_path / "a.jsonl", b'{"body": "\xe4\xbd\xa0\xe5\xa5\xbd"}\n\n{"body": "b"}\n')
    assert list(read_documents(path, "jsonl", "body")) == ["你好", "b"]
    path = _write(tmp_path / "w.json", b'[{"text": "x"}]')
    assert list(read_documents(path, "wudao", "text")) == ["x"]


@pytest.mark.parametrize("fmt, name, data, message", [
    ("jsonl", "bad.jsonl", b'{"text": "a"}\n{"text": \n', r"bad\.jsonl:2:\d+: not a JSON line"),
    ("jsonl", "key.jsonl", b'{"text": "a"}\n{"body": "b"}\n', r"key\.jsonl:2: no key 'text'"),
    ("clue", "utf.txt", "好\n".encode() + b"caf\xe9\n", r"utf\.txt:2: invalid UTF-8"),
    ("wudao", "w.json", b'[{"content": "a"},\n{"content": }]', r"w\.json:2:\d+: not valid WuDao JSON"),
    ("wudao", "obj.json", b'{"content": "a"}', r"obj\.json: a WuDao file must hold a JSON array"),
    ("wudao", "nokey.json", b'[{"title": "a"}]', r"nokey\.json: element 0 has no string field 'content'"),
    ("wudao", "u.json", b'[{"content": "a"},\n{"content": "\xff"}]', r"u\.json:2: invalid UTF-8"),
    ("jsonl", "cut.jsonl.gz", gzip.compress(b'{"text": "a"}\n' * 1000)[:-30], r"cut\.jsonl\.gz: cannot decompress"),
])
def test_bad_input_names_file_and_position(tmp_path, fmt, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(CorpusFormatError, match=message):
        list(read_documents(tmp_path / name, fmt))


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"datasets\.<name>\.format: unknown format 'xml'"):
        read_records(tmp_path / "x", "xml")


def _jsonl(texts) -> bytes:
    return "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts).encode()


# Each bad input, built around real documents ``c``: (format, file name, bytes, message of on_error=fail,
# skip counts of on_error=skip, indices into ``c`` of the documents kept when skipping).
BAD_INPUTS = {
    "jsonl line not JSON": (
        "jsonl", "a.jsonl", lambda c: _jsonl(c[:2]) + b'{"text": "\xe5\xa5\xbd\n' + _jsonl(c[2:3]),
        r"a\.jsonl:3:\d+: not a JSON line: Unterminated string", {"invalid_json": 1}, [0, 1, 2]),
    "jsonl line without the key": (
        "jsonl", "a.jsonl", lambda c: _jsonl(c[:1]) + json.dumps({"body": c[1]}, ensure_ascii=False).encode() + b"\n",
        r"a\.jsonl:2: no key 'text'", {"missing_key": 1}, [0]),
    "jsonl text not a string": (
        "jsonl", "a.jsonl", lambda c: b'{"text": ["x"]}\n' + _jsonl(c[:2]),
        r"a\.jsonl:1: 'text' is not a string", {"not_a_string": 1}, [0, 1]),
    "jsonl line not UTF-8": (
        "jsonl", "a.jsonl", lambda c: _jsonl(c[:1]) + c[1].encode("gb18030") + b"\n" + _jsonl(c[2:3]),
        r"a\.jsonl:2: invalid UTF-8 at byte \d+ of the line", {"invalid_utf8": 1}, [0, 2]),
    "clue line not UTF-8": (
        "clue", "a.txt", lambda c: (c[0] + "\n").encode() + c[1].encode("gb18030") + ("\n" + c[2] + "\n").encode(),
        r"a\.txt:2: invalid UTF-8 at byte \d+ of the line", {"invalid_utf8": 1}, [0, 2]),
    # a bad line spoils its document (lines 3-4), not the documents around it
    "text line not UTF-8": (
        "text", "a.txt",
        lambda c: f"{c[0]}\n\n{c[1]}\n".encode() + c[2].encode("gb18030") + f"\n\n{c[3]}\n".encode(),
        r"a\.txt:4: invalid UTF-8 at byte \d+ of the line", {"invalid_utf8": 1}, [0, 3]),
    "wudao element without the key": (
        "wudao", "a.json", lambda c: json.dumps([{"content": c[0]}, {"title": c[1]}], ensure_ascii=False).encode(),
        r"a\.json: element 1 has no string field 'content'", {"missing_key": 1}, [0]),
    # whole-file failures: nothing of the file is kept
    "wudao file not valid JSON": (
        "wudao", "a.json", lambda c: json.dumps([{"content": x} for x in c[:3]], ensure_ascii=False)[:-40].encode(),
        r"a\.json:1:\d+: not valid WuDao JSON: Unterminated string", {"file_invalid_json": 1}, []),
    "wudao file not UTF-8": (
        "wudao", "a.json", lambda c: json.dumps([{"content": c[0]}], ensure_ascii=False).encode("gb18030"),
        r"a\.json:1: invalid UTF-8 at byte \d+", {"file_invalid_utf8": 1}, []),
    "jsonl file read as wudao": (
        "wudao", "a.json", lambda c: _jsonl(c[:3]), r"a\.json:2:1: not valid WuDao JSON: Extra data",
        {"file_invalid_json": 1}, []),
    "one-line jsonl file read as wudao": (
        "wudao", "a.json", lambda c: _jsonl(c[:1]), r"a\.json: a WuDao file must hold a JSON array, found dict",
        {"file_not_an_array": 1}, []),
    "corrupt gz": (
        "clue", "a.txt.gz", lambda c: gzip.compress("\n".join(c).encode(), mtime=0)[:-20],
        r"a\.txt\.gz: cannot decompress \(Compressed file ended", {"file_unreadable": 1}, []),
    "corrupt zst": (
        "jsonl", "a.jsonl.zst", lambda c: zstandard.ZstdCompressor().compress(_jsonl(c))[:-20],
        r"a\.jsonl\.zst: cannot decompress \(the last zstd frame is truncated\)", {"file_unreadable": 1}, []),
    "empty wudao file": ("wudao", "a.json", lambda c: b"", r"a\.json: empty file$", {"file_empty": 1}, []),
    "empty jsonl file": ("jsonl", "a.jsonl", lambda c: b"\n\n", r"a\.jsonl: empty file$", {"file_empty": 1}, []),
    "empty clue file": ("clue", "a.txt", lambda c: b"", r"a\.txt: empty file$", {"file_empty": 1}, []),
    "empty gz text file": ("text", "a.txt.gz", lambda c: gzip.compress(b" \n", mtime=0), r"a\.txt\.gz: empty file$",
                           {"file_empty": 1}, []),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_fails_naming_file_and_position_or_is_skipped_and_counted(contents, tmp_path, case):
    fmt, name, build, message, counts, kept = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(build([c.replace("\n", " ") for c in contents]))
    message = f"^{re.escape(str(tmp_path))}/{message}"
    with pytest.raises(CorpusFormatError, match=message):
        load_documents(path, fmt, on_error="fail")
    documents, skipped = load_documents(path, fmt, on_error="skip")
    assert skipped.counts == counts
    assert len(skipped.examples) == 1 and re.match(message, skipped.examples[0])
    assert documents == [contents[i].replace("\n", " ") for i in kept]


@pytest.fixture(scope="module")
def line_50mb(contents) -> str:
    """A real document repeated into one line of about 50 MB of UTF-8."""
    unit = contents[0].replace("\n", "")
    return unit * (50_000_000 // len(unit.encode()) + 1)


@pytest.mark.parametrize("fmt", ["clue", "text", "jsonl"])
@pytest.mark.slow
def test_a_50mb_line_is_a_too_long_document(contents, line_50mb, tmp_path, fmt):
    docs = [contents[1].replace("\n", " "), line_50mb, contents[2].replace("\n", " ")]
    path = tmp_path / ("big.jsonl" if fmt == "jsonl" else "big.txt")
    path.write_bytes(_jsonl(docs) if fmt == "jsonl" else ("\n\n" if fmt == "text" else "\n").join(docs).encode())
    assert path.stat().st_size > 50_000_000
    line = 3 if fmt == "text" else 2
    message = (f"{path}:{line}: document of {len(line_50mb):,} characters is longer than "
               f"segment.max_document_chars (1,000,000)")
    with pytest.raises(CorpusFormatError) as err:
        load_documents(path, fmt, max_chars=1_000_000)
    assert str(err.value) == message
    documents, skipped = load_documents(path, fmt, max_chars=1_000_000, on_error="skip")
    assert documents == [docs[0], docs[2]]
    assert skipped.counts == {"too_long": 1} and skipped.examples == [message]
    # the limit counts characters: exactly at it is fine
    assert len(list(read_documents(path, fmt, max_chars=len(line_50mb)))) == 3


def test_examples_are_capped_and_counts_are_not(contents, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(_jsonl(c[:1]) + b"{oops\n" for c in [contents] * 25))
    documents, skipped = load_documents(path, "jsonl", on_error="skip")
    assert len(documents) == 25 and skipped.counts == {"invalid_json": 25}
    assert skipped.examples == [f"{path}:{2 * i}:2: not a JSON line: Expecting property name enclosed in double quotes"
                                for i in range(1, MAX_EXAMPLES + 1)]


def test_on_error_must_be_fail_or_skip(tmp_path):
    with pytest.raises(ValueError, match=r"on_error: 'ignore' is not one of \('fail', 'skip'\)"):
        load_documents(tmp_path / "a.txt", "clue", on_error="ignore")


def test_zst_of_several_frames_is_read_whole(contents, tmp_path):
    """``cat a.zst b.zst`` is a valid .zst file: every frame is read, not only the first."""
    one_line = [c.replace("\n", " ") for c in contents]
    compress = zstandard.ZstdCompressor().compress
    path = tmp_path / "a.txt.zst"
    path.write_bytes(b"".join(compress((line + "\n").encode()) for line in one_line))
    assert list(read_documents(path, "clue")) == one_line
