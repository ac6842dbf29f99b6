"""LAC's shipped model files, read without LAC or Paddle: the folder, Paddle's parameter files
(LoDTensor streams) and LAC's two-column dictionaries."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

def lac_model_dir(mode: str = "seg") -> Path:
    """The folder of LAC's shipped model for ``mode`` (found without importing LAC or Paddle)."""
    import importlib.util

    spec = importlib.util.find_spec("LAC")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("LAC is not installed (pip install lac==2.1.2)")
    return Path(list(spec.submodule_search_locations)[0]) / f"{mode}_model"


def read_paddle_tensor(path: str | Path) -> np.ndarray:
    """A float32 parameter file written by Paddle's ``save_inference_model`` (LoDTensor stream:
    version, LoD levels, tensor version, TensorDesc protobuf, raw data)."""
    data = Path(path).read_bytes()
    offset = 4  # uint32 LoD tensor version
    (lod_levels,) = struct.unpack_from("<Q", data, offset)
    offset += 8
    for _ in range(lod_levels):
        (size,) = struct.unpack_from("<Q", data, offset)
        offset += 8 + size
    offset += 4  # uint32 tensor version
    (desc_size,) = struct.unpack_from("<i", data, offset)
    offset += 4
    desc = data[offset:offset + desc_size]
    offset += desc_size
    dtype, dims = _parse_tensor_desc(desc)
    if dtype != 5:  # VarType.FP32
        raise ValueError(f"{path}: expected a float32 tensor, found Paddle data type {dtype}")
    return np.frombuffer(data, dtype="<f4", count=int(np.prod(dims)), offset=offset).reshape(dims)


def _parse_tensor_desc(desc: bytes) -> tuple[int, list[int]]:
    """(data_type, dims) of a serialised ``VarType.TensorDesc`` (field 1: enum, field 2: int64s)."""
    def varint(pos):
        value = shift = 0
        while True:
            byte = desc[pos]
            value |= (byte & 0x7F) << shift
            pos += 1
            if byte < 0x80:
                return value, pos
            shift += 7

    pos, dtype, dims = 0, None, []
    while pos < len(desc):
        key, pos = varint(pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(pos)
            if field == 1:
                dtype = value
            elif field == 2:
                dims.append(value)
        elif wire == 2:  # packed dims
            length, pos = varint(pos)
            end = pos + length
            while pos < end:
                value, pos = varint(pos)
                dims.append(value)
        else:
            raise ValueError(f"unexpected protobuf wire type {wire} in a TensorDesc")
    return dtype, dims


def load_kv(path: Path) -> list[tuple[str, str]]:
    """LAC's two-column dictionaries (``load_kv_dict``: lines of exactly two tab-separated fields)."""
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            terms = line.strip("\n").split("\t")
            if len(terms) == 2:
                pairs.append((terms[0], terms[1]))
    return pairs
