import gzip
import json

import pytest
import zstandard

from ernie_pipeline.readers import CorpusFormatError, read_documents


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
    with pytest.raises(ValueError, match="corpus.format: unknown format 'xml'"):
        read_documents(tmp_path / "x", "xml")
