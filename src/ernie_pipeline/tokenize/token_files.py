"""Stage 3's output format, the token-id files: writer and reader side by side (the ordered merge of a
dataset's shards into them: :mod:`ernie_pipeline.tokenize.merge`).

Upstream's v2.4/2.5 layout (what training reads):

``<prefix>_ids.npy``
    ``np.save`` layout of one 1-D array (uint16 when the base vocabulary has fewer than 65,535
    entries, else int32): the ids of every sentence, concatenated in document order, no [CLS]/[SEP].
``<prefix>_idx.npz``
    uncompressed ``np.savez`` layout with exactly two arrays: ``lens`` (int32, tokens per sentence)
    and ``docs`` (int64, ``[0, cumulative sentence count after each document...]``).

Optionally the same data as Megatron's / paddlenlp 2.6+'s ``<prefix>.bin`` + ``<prefix>.idx``
(MMIDIDX: magic, version 1, dtype code, counts, ``sizes`` int32, ``pointers`` int64 byte offsets,
``doc_idx`` int64).

Invariants: ``lens.sum() == ids.size`` and ``docs[-1] == lens.size``. Every array is streamed to
disk through temporary files (memory stays flat however large the corpus), and the files appear
under their final names only when complete. The npz members carry a fixed timestamp, so the same
ids give byte-identical files.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterable

import numpy as np

from ernie_pipeline.io.atomic import atomic_outputs, scratch_sibling

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_COPY_CHUNK = 1 << 20  # sentences per streamed pointer computation
_COPY_BYTES = 1 << 20  # bytes per streamed file copy: memory stays flat in the corpus size
MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
                        np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7,
                        np.dtype(np.uint16): 8}


def paths_for(prefix: str | Path) -> tuple[Path, Path]:
    return Path(f"{prefix}_ids.npy"), Path(f"{prefix}_idx.npz")


def megatron_paths_for(prefix: str | Path) -> tuple[Path, Path]:
    return Path(f"{prefix}.bin"), Path(f"{prefix}.idx")


def prefix_of(ids_path: str | Path) -> str:
    """``results/token_ids/x_ids.npy`` → ``results/token_ids/x``."""
    ids_path = str(ids_path)
    if not ids_path.endswith("_ids.npy"):
        raise ValueError(f"{ids_path}: token-id files are named <prefix>_ids.npy")
    return ids_path[: -len("_ids.npy")]


def _npy_header(dtype: np.dtype, count: int) -> bytes:
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": (count,)}
    with tempfile.TemporaryFile() as handle:
        np.lib.format.write_array_header_1_0(handle, header) if count < 2**31 else \
            np.lib.format.write_array_header_2_0(handle, header)
        handle.seek(0)
        return handle.read()


def _copy_raw(source: Path, out: BinaryIO) -> None:
    with open(source, "rb") as handle:
        shutil.copyfileobj(handle, out, _COPY_BYTES)


def _write_npy(path: Path, raw: Path, dtype: np.dtype, count: int) -> None:
    with open(path, "wb") as out:
        out.write(_npy_header(dtype, count))
        _copy_raw(raw, out)


def _npz_member(archive: zipfile.ZipFile, name: str) -> BinaryIO:
    """An uncompressed ``<name>.npy`` member with a fixed timestamp (``np.savez`` stamps the time)."""
    return archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME), "w", force_zip64=True)


def _write_npz(path: Path, members: dict[str, tuple[Path, np.dtype, int]]) -> None:
    """An uncompressed npz whose members are copied from raw files (name -> (raw, dtype, count))."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, (raw, dtype, count) in members.items():
            with _npz_member(archive, name) as member:
                member.write(_npy_header(dtype, count))
                _copy_raw(raw, member)


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` with fixed member timestamps: the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with _npz_member(archive, name) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


class _RawStreams:
    """Temporary raw files beside the outputs, one per array, removed whatever happens."""

    def __init__(self, directory: Path, stem: str, names: Iterable[str]):
        directory.mkdir(parents=True, exist_ok=True)
        self.paths: dict[str, Path] = {}
        self.files: dict[str, BinaryIO] = {}
        for name in names:
            self.paths[name] = scratch_sibling(directory / stem, f"{name}.raw")
            self.files[name] = open(self.paths[name], "wb")

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()

    def remove(self) -> None:
        self.close()
        for path in self.paths.values():
            path.unlink(missing_ok=True)


class IdsWriter:
    """Stream documents to disk; ``finalize`` writes the npy/npz pair (and optionally the Megatron
    pair) under their final names at once. Memory holds nothing in proportion to the corpus."""

    def __init__(self, prefix: str | Path, dtype: np.dtype, megatron: bool = False):
        self.prefix = str(prefix)
        self.ids_path, self.idx_path = paths_for(prefix)
        self.dtype = np.dtype(dtype)
        self.megatron = megatron
        self._raw = _RawStreams(self.ids_path.parent, Path(self.prefix).name, ("ids", "lens", "docs"))
        self._raw.files["docs"].write(np.zeros(1, np.int64).tobytes())
        self._limit = np.iinfo(self.dtype).max
        self.tokens = self.sentences = self.documents = 0

    def add(self, ids: np.ndarray, lens: np.ndarray, sentences_per_doc: np.ndarray) -> None:
        """Append documents given as flat arrays: every token id, the tokens of each sentence and
        the sentences of each document (documents without sentences are left out, as upstream)."""
        ids, lens, counts = np.asarray(ids), np.asarray(lens, np.int32), np.asarray(sentences_per_doc, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() > self._limit):
            raise ValueError(f"{self.ids_path}: token id {int(ids.max())} out of range for {self.dtype}")
        if lens.size and lens.min() <= 0:
            raise ValueError(f"{self.ids_path}: empty sentences must be dropped before writing")
        counts = counts[counts > 0]
        if int(lens.sum(dtype=np.int64)) != ids.size or int(counts.sum()) != lens.size:
            raise ValueError(f"{self.ids_path}: ids, sentence lengths and document counts disagree")
        self._raw.files["ids"].write(ids.astype(self.dtype, copy=False).tobytes())
        self._raw.files["lens"].write(lens.tobytes())
        self._raw.files["docs"].write((self.sentences + np.cumsum(counts)).astype(np.int64).tobytes())
        self.tokens += int(ids.size)
        self.sentences += int(lens.size)
        self.documents += int(counts.size)

    def finalize(self, source: str = "", allow_empty: bool = False) -> dict:
        """Write the outputs; a writer that received no sentence is an error naming ``source``, unless
        ``allow_empty`` (a shard whose raw file was skipped or held only short documents)."""
        try:
            self._raw.close()
            if not self.sentences and not allow_empty:
                raise ValueError(f"{source or self.ids_path}: no document with a non-empty sentence to write")
            outputs = [self.ids_path, self.idx_path] + (list(megatron_paths_for(self.prefix)) if self.megatron else [])
            with atomic_outputs(*outputs) as tmp:
                raw = self._raw.paths
                _write_npy(tmp[0], raw["ids"], self.dtype, self.tokens)
                _write_npz(tmp[1], {"lens": (raw["lens"], np.dtype(np.int32), self.sentences),
                                    "docs": (raw["docs"], np.dtype(np.int64), self.documents + 1)})
                if self.megatron:
                    _write_megatron(tmp[2], tmp[3], raw, self.dtype, self.sentences, self.documents + 1)
        finally:
            self._raw.remove()
        return {"documents": self.documents, "sentences": self.sentences, "tokens": self.tokens,
                "dtype": self.dtype.name}

    def abort(self) -> None:
        self._raw.remove()


def _write_megatron(bin_path: Path, idx_path: Path, raw: dict[str, Path], dtype: np.dtype, sentences: int,
                    doc_entries: int) -> None:
    """MMIDIDX pair: ``.bin`` holds the ids as they are; ``.idx`` the sizes, byte pointers and
    document index (Megatron-LM / megatron-core / paddlenlp 2.6+ ``MMapIndexedDataset``)."""
    with open(bin_path, "wb") as out:
        _copy_raw(raw["ids"], out)
    lens = np.memmap(raw["lens"], dtype=np.int32, mode="r", shape=(sentences,)) if sentences else np.zeros(0, np.int32)
    with open(idx_path, "wb") as out:
        out.write(MEGATRON_MAGIC)
        out.write(struct.pack("<Q", 1))
        out.write(struct.pack("<B", MEGATRON_DTYPE_CODES[dtype]))
        out.write(struct.pack("<Q", sentences))
        out.write(struct.pack("<Q", doc_entries))
        _copy_raw(raw["lens"], out)
        offset = 0
        for start in range(0, sentences, _COPY_CHUNK):
            chunk = lens[start : start + _COPY_CHUNK].astype(np.int64) * dtype.itemsize
            pointers = np.empty_like(chunk)
            pointers[0] = offset
            np.cumsum(chunk[:-1], out=pointers[1:])
            pointers[1:] += offset
            offset += int(chunk.sum())
            out.write(pointers.tobytes())
        _copy_raw(raw["docs"], out)
    del lens


def npz_member_memmap(path: str | Path, name: str) -> np.ndarray:
    """Member ``name`` of an npz as a read-only memory map of the archive itself, where it is stored
    uncompressed (as ``np.savez`` and this module write them); loaded into memory where it is compressed."""
    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo(f"{name}.npy")
        except KeyError:
            raise ValueError(f"{path}: no array {name!r} (has {sorted(archive.namelist())})") from None
        if info.compress_type != zipfile.ZIP_STORED:
            with archive.open(info) as member:
                return np.lib.format.read_array(member, allow_pickle=False)
    with open(path, "rb") as handle:
        # the member's data follows its local header: 30 bytes, then its own name and extra field lengths
        handle.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", handle.read(4))
        start = info.header_offset + 30 + name_length + extra_length
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        if fortran or len(shape) != 1 or dtype.hasobject:
            raise ValueError(f"{path}: array {name!r} must be a 1-D array of numbers")
        offset = handle.tell()
    if not shape[0]:
        return np.zeros(0, dtype)
    # a plain ndarray over the map: slicing an np.memmap builds a memmap object each time (slow)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape).view(np.ndarray)


OFFSET_BLOCK = 1024  # sentences per stored token offset: 8 bytes per 1024 sentences in memory


class IdsDataset:
    """Read a ``_ids.npy``/``_idx.npz`` pair, all of it memory-mapped: memory holds one token offset per
    :data:`OFFSET_BLOCK` sentences (a sentence's start is its block's offset plus the lengths before it in
    the block), so any number of processes read a corpus of any size with the kernel's page cache alone.
    Pickles as its paths and block offsets (DataLoader workers reopen the maps, without a pass over lens)."""

    def __init__(self, prefix: str | Path, _block_offsets: np.ndarray | None = None):
        self.prefix = str(prefix)
        ids_path, idx_path = paths_for(prefix)
        self.ids = np.load(ids_path, mmap_mode="r")
        self.lens = npz_member_memmap(idx_path, "lens")
        self.docs = npz_member_memmap(idx_path, "docs")
        if self.lens.dtype != np.int32 or self.docs.dtype != np.int64:
            raise ValueError(f"{idx_path}: lens must be int32 and docs int64")
        if _block_offsets is None:
            _block_offsets = self._block_offsets()
            if _block_offsets[-1] != self.ids.size or not len(self.docs) or self.docs[-1] != self.lens.size:
                raise ValueError(f"{prefix}: ids/lens/docs sizes disagree")
        self.block_offsets = _block_offsets

    def _block_offsets(self) -> np.ndarray:
        """The token offset of every OFFSET_BLOCK-th sentence, and the total last; read in chunks."""
        blocks = -(-len(self.lens) // OFFSET_BLOCK)
        offsets = np.zeros(blocks + 1, dtype=np.int64)
        chunk = OFFSET_BLOCK * 1024
        for start in range(0, len(self.lens), chunk):
            lens = np.asarray(self.lens[start : start + chunk], dtype=np.int64)
            sums = np.add.reduceat(lens, np.arange(0, len(lens), OFFSET_BLOCK))  # the last block may be short
            first = start // OFFSET_BLOCK
            np.cumsum(sums, out=offsets[first + 1 : first + 1 + len(sums)])
            offsets[first + 1 : first + 1 + len(sums)] += offsets[first]
        return offsets

    def __reduce__(self):
        return IdsDataset, (self.prefix, self.block_offsets)

    def offset(self, sentence: int) -> int:
        """The position of ``sentence``'s first token in ``ids`` (``len(self)`` gives the end)."""
        block = sentence // OFFSET_BLOCK
        return int(self.block_offsets[block]) + int(self.lens[block * OFFSET_BLOCK : sentence].sum(dtype=np.int64))

    def sentences(self, start: int, end: int) -> list[np.ndarray]:
        """Sentences ``start`` to ``end`` (exclusive), one offset computed for all of them."""
        lens = np.asarray(self.lens[start:end], dtype=np.int64)
        bounds = self.offset(start) + np.concatenate(([0], np.cumsum(lens)))
        return [self.ids[bounds[k] : bounds[k + 1]] for k in range(len(lens))]

    def __len__(self) -> int:
        return len(self.lens)

    def __getitem__(self, sentence: int) -> np.ndarray:
        start = self.offset(sentence)
        return self.ids[start : start + int(self.lens[sentence])]

    @property
    def num_docs(self) -> int:
        return len(self.docs) - 1
