"""Raw corpus readers, one per ``corpus.format``; each yields the text of every document of a file.

=========  ==============================================================================
format     layout
=========  ==============================================================================
wudao      one JSON array per file of objects with a ``content`` field (WuDaoCorpus2.0)
clue       CLUECorpus2020 txt: one document per line (empty lines skipped)
text       plain txt: documents separated by blank lines, lines of a document kept
jsonl      one JSON object per line, the text under ``json_key`` (default ``text``)
=========  ==============================================================================

Files ending in ``.gz`` or ``.zst`` are decompressed on the fly. Every error names the file and
the line (or byte) where it occurred.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

COMPRESSED_SUFFIXES = (".gz", ".zst")


class CorpusFormatError(ValueError):
    """A raw corpus file that does not match its configured format."""


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing ``.gz`` / ``.zst``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    if path.suffix == ".zst":
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
    return open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, decoded line without its newline); invalid UTF-8 names the line."""
    try:
        with open_binary(path) as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    raise CorpusFormatError(f"{path}:{number}: invalid UTF-8 at byte {err.start} of the line") from None
    except (OSError, EOFError) as err:  # truncated or corrupt .gz / .zst
        raise CorpusFormatError(f"{path}: cannot decompress ({err})") from None


def read_wudao(path: str | Path, json_key: str = "content") -> Iterator[str]:
    path = Path(path)
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as err:
        raise CorpusFormatError(f"{path}: cannot decompress ({err})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise CorpusFormatError(f"{path}:{line}: invalid UTF-8 at byte {err.start}") from None
    try:
        records = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorpusFormatError(f"{path}:{err.lineno}:{err.colno}: not valid WuDao JSON: {err.msg}") from None
    if not isinstance(records, list):
        raise CorpusFormatError(f"{path}: a WuDao file must hold a JSON array, found {type(records).__name__}")
    for number, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get(json_key), str):
            raise CorpusFormatError(f"{path}: element {number} has no string field {json_key!r}")
        yield record[json_key]


def jsonl_text(line: str | bytes, json_key: str, path: str | Path, number: int) -> str:
    """The string under ``json_key`` of one jsonl line; errors name ``path:number``."""
    try:
        text = json.loads(line)[json_key]
    except json.JSONDecodeError as err:
        raise CorpusFormatError(f"{path}:{number}:{err.colno}: not a JSON line: {err.msg}") from None
    except UnicodeDecodeError as err:
        raise CorpusFormatError(f"{path}:{number}: invalid UTF-8 at byte {err.start} of the line") from None
    except (KeyError, TypeError, IndexError):
        raise CorpusFormatError(f"{path}:{number}: no key {json_key!r}") from None
    if not isinstance(text, str):
        raise CorpusFormatError(f"{path}:{number}: {json_key!r} is not a string")
    return text


def read_jsonl(path: str | Path, json_key: str = "text") -> Iterator[str]:
    path = Path(path)
    for number, line in _lines(path):
        if line.strip():
            yield jsonl_text(line, json_key, path, number)


def read_clue(path: str | Path, json_key: str = "") -> Iterator[str]:
    for _number, line in _lines(Path(path)):
        if line.strip():
            yield line


def read_text(path: str | Path, json_key: str = "") -> Iterator[str]:
    document: list[str] = []
    for _number, line in _lines(Path(path)):
        if line.strip():
            document.append(line)
        elif document:
            yield "\n".join(document)
            document = []
    if document:
        yield "\n".join(document)


READERS: dict[str, Callable[..., Iterator[str]]] = {
    "wudao": read_wudao,
    "clue": read_clue,
    "text": read_text,
    "jsonl": read_jsonl,
}
# File name endings of each format's raw files (plus an optional compression suffix).
SUFFIXES = {"wudao": (".json",), "clue": (".txt",), "text": (".txt",), "jsonl": (".jsonl", ".json")}


def read_documents(path: str | Path, fmt: str, json_key: str | None = None) -> Iterator[str]:
    """The documents of one raw file in format ``fmt``."""
    if fmt not in READERS:
        raise ValueError(f"config corpus.format: unknown format {fmt!r}; known: {sorted(READERS)}")
    if json_key is None:
        return READERS[fmt](path)
    return READERS[fmt](path, json_key)
