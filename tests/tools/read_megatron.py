"""Read a Megatron .bin/.idx pair (MMIDIDX) with megatron-core's own IndexedDataset.

Run with the torch venv, never the project's (Paddle) one:
    .venv-torch/bin/python tests/tools/read_megatron.py <prefix> <out.npz>
(`make torch-env` builds it). Writes an npz with
    sizes             int32, tokens per sequence (from the index)
    document_indices  int64, the index's document boundaries
    tokens            every sequence read through dataset[i], concatenated in order, in the
                      dataset's dtype
    dtype             the dtype's name, a 0-d string array
"""
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
from megatron.core.datasets.indexed_dataset import IndexedDataset  # noqa: E402


def main(prefix: str, out: str) -> None:
    ds = IndexedDataset(prefix, mmap=True)
    dtype = np.dtype(ds.index.dtype)
    seqs = [np.asarray(ds[i]) for i in range(len(ds))]
    tokens = np.concatenate(seqs) if seqs else np.empty(0, dtype)
    assert tokens.dtype == dtype, (tokens.dtype, dtype)
    np.savez(out, sizes=np.asarray(ds.sequence_lengths, np.int32),
             document_indices=np.asarray(ds.document_indices, np.int64),
             tokens=tokens, dtype=np.array(dtype.name))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
