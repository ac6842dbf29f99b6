"""The token-id files, writer and reader side by side (upstream v2.4/2.5 layout).

``<prefix>_ids.npy``
    ``np.save`` of one 1-D array (uint16 when the base vocabulary has fewer than 65,535 entries, else
    int32): the ids of every sentence, concatenated in document order, no [CLS]/[SEP].
``<prefix>_idx.npz``
    uncompressed ``np.savez`` layout with exactly two arrays: ``lens`` (int32, tokens per sentence)
    and ``docs`` (int64, ``[0, cumulative sentence count after each document...]``).

Invariants: ``lens.sum() == ids.size`` and ``docs[-1] == lens.size``. The npz members carry a fixed
timestamp so that the same ids give byte-identical files (``np.savez`` stamps the current time).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ernie_pipeline.atomic import atomic_outputs

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_COPY_CHUNK = 1 << 22  # elements


def ids_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size < 2**16 - 1 else np.int32)


def paths_for(prefix: str | Path) -> tuple[Path, Path]:
    return Path(f"{prefix}_ids.npy"), Path(f"{prefix}_idx.npz")


def prefix_of(ids_path: str | Path) -> str:
    """``results/token_ids/x_ids.npy`` → ``results/token_ids/x``."""
    ids_path = str(ids_path)
    if not ids_path.endswith("_ids.npy"):
        raise ValueError(f"{ids_path}: token-id files are named <prefix>_ids.npy")
    return ids_path[: -len("_ids.npy")]


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ZIP_TIME)
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


class IdsWriter:
    """Stream sentences to disk; ``finalize`` writes the npy/npz pair under its final names at once.

    Memory holds only the per-sentence lengths and per-document counts, never the ids.
    """

    def __init__(self, prefix: str | Path, dtype: np.dtype):
        self.ids_path, self.idx_path = paths_for(prefix)
        self.dtype = np.dtype(dtype)
        self.ids_path.parent.mkdir(parents=True, exist_ok=True)
        fd, raw_name = tempfile.mkstemp(prefix=f".{self.ids_path.name}.", suffix=".raw",
                                        dir=self.ids_path.parent)
        self._raw_path = Path(raw_name)
        self._raw = os.fdopen(fd, "wb")
        self._lens: list[int] = []
        self._docs: list[int] = [0]
        self._limit = np.iinfo(self.dtype).max

    def add_document(self, sentences: list[list[int]]) -> None:
        """Append one document; empty sentences are dropped, an empty document is skipped."""
        kept = [s for s in sentences if len(s)]
        if not kept:
            return
        for sentence in kept:
            array = np.asarray(sentence, dtype=np.int64)
            if array.min() < 0 or array.max() > self._limit:
                raise ValueError(f"token id out of range for {self.dtype} in {self.ids_path}")
            self._raw.write(array.astype(self.dtype).tobytes())
            self._lens.append(len(sentence))
        self._docs.append(len(self._lens))

    def finalize(self) -> dict:
        self._raw.close()
        lens = np.asarray(self._lens, dtype=np.int32)
        docs = np.asarray(self._docs, dtype=np.int64)
        total = int(lens.sum(dtype=np.int64))
        try:
            if not len(lens):
                raise ValueError(f"{self.ids_path}: no non-empty sentence to write")
            with atomic_outputs(self.ids_path, self.idx_path) as (tmp_ids, tmp_idx):
                out = np.lib.format.open_memmap(tmp_ids, mode="w+", dtype=self.dtype, shape=(total,))
                source = np.memmap(self._raw_path, dtype=self.dtype, mode="r", shape=(total,))
                for start in range(0, total, _COPY_CHUNK):
                    out[start : start + _COPY_CHUNK] = source[start : start + _COPY_CHUNK]
                out.flush()
                del out, source
                _write_npz(tmp_idx, {"lens": lens, "docs": docs})
        finally:
            self._raw_path.unlink(missing_ok=True)
        return {"documents": len(docs) - 1, "sentences": len(lens), "tokens": total}

    def abort(self) -> None:
        self._raw.close()
        self._raw_path.unlink(missing_ok=True)


class IdsDataset:
    """Read a ``_ids.npy``/``_idx.npz`` pair: ids memory-mapped, ``lens``/``docs`` in memory."""

    def __init__(self, prefix: str | Path):
        ids_path, idx_path = paths_for(prefix)
        self.ids = np.load(ids_path, mmap_mode="r")
        with np.load(idx_path) as index:
            self.lens = index["lens"]
            self.docs = index["docs"]
        if self.lens.dtype != np.int32 or self.docs.dtype != np.int64:
            raise ValueError(f"{idx_path}: lens must be int32 and docs int64")
        if int(self.lens.sum(dtype=np.int64)) != self.ids.size or self.docs[-1] != self.lens.size:
            raise ValueError(f"{prefix}: ids/lens/docs sizes disagree")
        self.offsets = np.zeros(len(self.lens) + 1, dtype=np.int64)
        np.cumsum(self.lens, out=self.offsets[1:])

    def __len__(self) -> int:
        return len(self.lens)

    def __getitem__(self, sentence: int) -> np.ndarray:
        return self.ids[self.offsets[sentence] : self.offsets[sentence + 1]]

    @property
    def num_docs(self) -> int:
        return len(self.docs) - 1
