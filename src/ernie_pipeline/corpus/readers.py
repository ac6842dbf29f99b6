"""Raw corpus readers, one per dataset ``format``; each yields the text of every document of a file.

=========  ==============================================================================
format     layout
=========  ==============================================================================
wudao      one JSON array per file of objects with a ``content`` field (WuDaoCorpus2.0)
clue       CLUECorpus2020 txt: one document per line (empty lines skipped)
text       plain txt: documents separated by blank lines, lines of a document kept
jsonl      one JSON object per line, the text under ``json_key`` (default ``text``)
=========  ==============================================================================

Files ending in ``.gz`` or ``.zst`` are decompressed on the fly; a UTF-8 byte-order mark at the start
of a file is dropped. Every error names the file and the line (or WuDao element) where it occurred.

A reader yields ``(position, text)`` per document and a :class:`CorpusFormatError` *object* in
place of each bad record (a line that is not JSON, lacks the key, is not UTF-8), then goes on with
the next record; it *raises* when the file as a whole cannot be read (empty, not a WuDao JSON
array, corrupt compression). :func:`load_documents` applies a dataset's ``on_error``: ``fail``
raises the first error, ``skip`` counts them by :attr:`CorpusFormatError.reason`.

Memory: a line (a WuDao file) is held whole while it is read, so a document is checked against
``max_chars`` only after reading; the limit protects the segmenter, not the reader.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

COMPRESSED_SUFFIXES = (".gz", ".zst")
ON_ERROR = ("fail", "skip")
MAX_EXAMPLES = 10  # skipped records quoted in a shard's stats


class CorpusFormatError(ValueError):
    """A raw corpus file, or one record of it, that does not match its configured format.

    ``reason`` is the kind of problem, the key under which ``on_error: skip`` counts it; reasons
    starting with ``file_`` mean the whole file could not be read."""

    def __init__(self, message: str, reason: str = "invalid_format"):
        super().__init__(message)
        self.reason = reason


# A document (where it starts, its text) or a bad record.
Record = Union[tuple[str, str], CorpusFormatError]


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing ``.gz`` / ``.zst``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    if path.suffix == ".zst":
        return io.BufferedReader(_ZstdFile(path), 1 << 20)
    return open(path, "rb")


class _ZstdFile(io.RawIOBase):
    """The decompressed bytes of every frame of a ``.zst`` file; a truncated frame raises EOFError
    (zstandard's ``stream_reader`` ends such a file early without an error)."""

    def __init__(self, path: Path):
        import zstandard

        self._new_frame = zstandard.ZstdDecompressor().decompressobj
        self._raw = open(path, "rb")
        self._frame = None
        self._out, self._offset = b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._offset == len(self._out):
            data = self._raw.read(1 << 20)
            if not data:
                if self._frame is not None and not self._frame.eof:
                    raise EOFError("the last zstd frame is truncated")
                return 0
            chunks = []
            while data:
                if self._frame is None or self._frame.eof:
                    self._frame = self._new_frame()
                chunks.append(self._frame.decompress(data))
                data = self._frame.unused_data if self._frame.eof else b""
            self._out, self._offset = b"".join(chunks), 0
        size = min(len(buffer), len(self._out) - self._offset)
        buffer[:size] = self._out[self._offset:self._offset + size]
        self._offset += size
        return size

    def close(self) -> None:
        self._raw.close()
        super().close()


def _decompress_errors() -> tuple[type[BaseException], ...]:
    # gzip: OSError (bad header), EOFError (truncated), zlib.error (corrupt data); zstd: its own class
    import zstandard

    return OSError, EOFError, zlib.error, zstandard.ZstdError


def _binary(where: str) -> CorpusFormatError:
    return CorpusFormatError(f"{where}: a binary file (or UTF-16), not UTF-8 text; the file is refused whole",
                             "file_binary")


def _read_all(path: Path) -> bytes:
    """The file's bytes, less a UTF-8 byte-order mark."""
    handle = open_binary(path)  # outside the try: a missing file is not a format problem
    try:
        with handle:
            data = handle.read()
    except _decompress_errors() as err:
        raise CorpusFormatError(f"{path}: cannot decompress ({err})", "file_unreadable") from None
    if b"\0" in data:
        raise _binary(f"{path}: NUL byte at byte {data.index(0)}")
    return data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data


def numbered_lines(path: Path) -> Iterator[tuple[int, str | CorpusFormatError]]:
    """(line number, decoded line without its newline, or the error of a line that is not UTF-8); a UTF-8
    byte-order mark at the start is dropped; a NUL byte (never in UTF-8 text) refuses the file."""
    handle = open_binary(path)
    blank = True
    try:
        with handle:
            for number, raw in enumerate(handle, 1):
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                if b"\0" in raw:
                    raise _binary(f"{path}:{number}: NUL byte at byte {raw.index(0)} of the line")
                blank = blank and not raw.strip()
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    yield number, CorpusFormatError(
                        f"{path}:{number}: invalid UTF-8 at byte {err.start} of the line", "invalid_utf8")
    except _decompress_errors() as err:
        raise CorpusFormatError(f"{path}: cannot decompress ({err})", "file_unreadable") from None
    if blank:
        raise CorpusFormatError(f"{path}: empty file", "file_empty")


def read_wudao(path: Path, json_key: str = "content") -> Iterator[Record]:
    data = _read_all(path)
    if not data.strip():
        raise CorpusFormatError(f"{path}: empty file", "file_empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:  # the array is parsed as a whole, so the file goes as a whole
        line = data.count(b"\n", 0, err.start) + 1
        raise CorpusFormatError(f"{path}:{line}: invalid UTF-8 at byte {err.start}", "file_invalid_utf8") from None
    try:
        records = json.loads(text)
    except json.JSONDecodeError as err:
        raise CorpusFormatError(f"{path}:{err.lineno}:{err.colno}: not valid WuDao JSON: {err.msg}",
                                "file_invalid_json") from None
    if not isinstance(records, list):
        raise CorpusFormatError(f"{path}: a WuDao file must hold a JSON array, found {type(records).__name__}",
                                "file_not_an_array")
    for number, record in enumerate(records):
        if isinstance(record, dict) and isinstance(record.get(json_key), str):
            yield f"{path}: element {number}", record[json_key]
        else:
            yield CorpusFormatError(f"{path}: element {number} has no string field {json_key!r}", "missing_key")


def jsonl_text(line: str | bytes, json_key: str, path: str | Path, number: int) -> str:
    """The string under ``json_key`` of one jsonl line; errors name ``path:number``."""
    try:
        text = json.loads(line)[json_key]
    except json.JSONDecodeError as err:
        raise CorpusFormatError(f"{path}:{number}:{err.colno}: not a JSON line: {err.msg}", "invalid_json") from None
    except UnicodeDecodeError as err:
        raise CorpusFormatError(f"{path}:{number}: invalid UTF-8 at byte {err.start} of the line",
                                "invalid_utf8") from None
    except (KeyError, TypeError, IndexError):
        raise CorpusFormatError(f"{path}:{number}: no key {json_key!r}", "missing_key") from None
    if not isinstance(text, str):
        raise CorpusFormatError(f"{path}:{number}: {json_key!r} is not a string", "not_a_string")
    return text


def read_jsonl(path: Path, json_key: str = "text") -> Iterator[Record]:
    for number, line in numbered_lines(path):
        if isinstance(line, CorpusFormatError):
            yield line
        elif line.strip():
            try:
                yield f"{path}:{number}", jsonl_text(line, json_key, path, number)
            except CorpusFormatError as err:
                yield err


def read_clue(path: Path, json_key: str = "") -> Iterator[Record]:
    for number, line in numbered_lines(path):
        if isinstance(line, CorpusFormatError):
            yield line
        elif line.strip():
            yield f"{path}:{number}", line


def read_text(path: Path, json_key: str = "") -> Iterator[Record]:
    document: list[str] = []
    start, error = 0, None  # a bad line spoils its whole document, not only itself
    for number, line in numbered_lines(path):
        if isinstance(line, CorpusFormatError):
            error = error or line
            start = start or number
        elif line.strip():
            document.append(line)
            start = start or number
        elif document or error:
            yield error or (f"{path}:{start}", "\n".join(document))
            document, start, error = [], 0, None
    if document or error:
        yield error or (f"{path}:{start}", "\n".join(document))


READERS: dict[str, Callable[..., Iterator[Record]]] = {
    "wudao": read_wudao,
    "clue": read_clue,
    "text": read_text,
    "jsonl": read_jsonl,
}
# File name endings of each format's raw files (plus an optional compression suffix).
SUFFIXES = {"wudao": (".json",), "clue": (".txt",), "text": (".txt",), "jsonl": (".jsonl", ".json")}


def read_records(path: str | Path, fmt: str, json_key: str | None = None, max_chars: int = 0,
                 max_invalid_share: float = 0.5) -> Iterator[str | CorpusFormatError]:
    """Each document's text of one raw file in format ``fmt``, or the error of a bad record; a
    document longer than ``max_chars`` characters (0: no limit) is an error too. A file more than
    ``max_invalid_share`` of whose records are not UTF-8 is binary or in another encoding: after its last
    record, that raises (``file_binary``)."""
    if fmt not in READERS:
        raise ValueError(f"config datasets.<name>.format: unknown format {fmt!r}; known: {sorted(READERS)}")
    reader = READERS[fmt]
    return _checked(reader(Path(path)) if json_key is None else reader(Path(path), json_key), path, max_chars,
                    max_invalid_share)


def _checked(records: Iterator[Record], path: str | Path, max_chars: int, max_invalid_share: float
             ) -> Iterator[str | CorpusFormatError]:
    total = invalid = 0
    for record in records:
        total += 1
        invalid += isinstance(record, CorpusFormatError) and record.reason == "invalid_utf8"
        yield _within(record, max_chars)
    if invalid > max_invalid_share * total:
        raise CorpusFormatError(f"{path}: {invalid} of {total} records are not UTF-8 (more than "
                                f"segment.max_invalid_utf8_share={max_invalid_share}): a binary file or another "
                                "encoding; the file is refused whole", "file_binary")


def _within(record: Record, max_chars: int) -> str | CorpusFormatError:
    if isinstance(record, CorpusFormatError):
        return record
    where, text = record
    if max_chars and len(text) > max_chars:
        return CorpusFormatError(f"{where}: document of {len(text):,} characters is longer than "
                                 f"segment.max_document_chars ({max_chars:,})", "too_long")
    return text


def read_documents(path: str | Path, fmt: str, json_key: str | None = None, max_chars: int = 0) -> Iterator[str]:
    """The documents of one raw file in format ``fmt``; the first bad record raises."""
    for record in read_records(path, fmt, json_key, max_chars, max_invalid_share=1.0):
        if isinstance(record, CorpusFormatError):
            raise record
        yield record


@dataclass
class Skipped:
    """Records left out under ``on_error: skip``: a count per reason and the first few messages."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, error: CorpusFormatError) -> None:
        self.counts[error.reason] = self.counts.get(error.reason, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(str(error))


def load_documents(path: str | Path, fmt: str, json_key: str | None = None, max_chars: int = 0,
                   on_error: str = "fail", max_invalid_share: float = 0.5) -> tuple[list[str], Skipped]:
    """All documents of one raw file and what was skipped. ``on_error="fail"``: the first bad record
    raises; ``"skip"``: bad records are left out, and a file that cannot be read as a whole (also one
    with NUL bytes, or more than ``max_invalid_share`` of its records not UTF-8: ``file_binary``) gives
    no documents (not even those read before the failure: a file in the wrong format can look
    valid for a while)."""
    if on_error not in ON_ERROR:
        raise ValueError(f"config datasets.<name>.on_error: {on_error!r} is not one of {ON_ERROR}")
    if on_error == "fail":
        return list(read_documents(path, fmt, json_key, max_chars)), Skipped()
    documents, skipped = [], Skipped()
    try:
        for record in read_records(path, fmt, json_key, max_chars, max_invalid_share):
            if isinstance(record, CorpusFormatError):
                skipped.add(record)
            else:
                documents.append(record)
    except CorpusFormatError as err:  # only whole-file failures are raised in this mode
        skipped = Skipped()
        skipped.add(err)
        return [], skipped
    return documents, skipped
