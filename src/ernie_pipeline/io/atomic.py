"""Write outputs under a temporary name and rename them into place, so a crash or a bad input never
leaves a half-written artifact behind."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def scratch_sibling(path: str | os.PathLike, tag: str = "tmp", is_dir: bool = False) -> Path:
    """An empty temporary file or folder ``.<name>.<tag>`` beside ``path``, what an earlier attempt left there
    removed first: the name is fixed by the output, so the rerun of a job that was killed (SIGKILL, out of
    memory, a lost node) clears its debris instead of adding to it. One job writes an output at a time
    (Snakemake's rule), so the fixed name is never shared. Permissions are those a plain create gets."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{tag}")
    _remove(scratch)
    if is_dir:
        scratch.mkdir(mode=0o777 & ~_umask())
    else:
        scratch.touch(mode=0o666 & ~_umask())
    return scratch


@contextlib.contextmanager
def scratch_directory(path: str | os.PathLike, tag: str) -> Iterator[Path]:
    """A :func:`scratch_sibling` folder for the block, removed after it whatever happens."""
    scratch = scratch_sibling(path, tag, is_dir=True)
    try:
        yield scratch
    finally:
        _remove(scratch)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``, on error delete it.

    For a directory the old ``path`` (if any) is replaced as a whole.
    """
    final = Path(path)
    tmp = scratch_sibling(final, "tmp", is_dir)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    if is_dir:
        if final.exists():
            old = _previous(final)
            _remove(old)
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
    else:
        os.replace(tmp, final)


def _previous(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def recover_directory(path: str | os.PathLike) -> bool:
    """Undo a directory replace that a crash cut between its two renames (``path`` moved aside, the new
    one not yet in place): put the previous ``path`` back. True when something was recovered."""
    final = Path(path)
    previous = _previous(final)
    if final.exists() or not previous.is_dir():
        return False
    os.replace(previous, final)
    return True


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary sibling of ``path`` for writing; rename it into place when the block succeeds."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as handle:
            yield handle


def write_json(path: str | os.PathLike, value) -> None:
    """``value`` as indented JSON (UTF-8 text as is), written atomically."""
    import json

    with atomic_write(path) as handle:
        json.dump(value, handle, ensure_ascii=False, indent=1)
        handle.write("\n")


def write_arrays(path: str | os.PathLike, arrays: dict | None = None, array=None) -> None:
    """Numpy arrays written atomically: ``arrays`` as an .npz (uncompressed), or one ``array`` as an .npy."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        if arrays is not None:
            np.savez(handle, **arrays)
        else:
            np.save(handle, array)


@contextlib.contextmanager
def atomic_outputs(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Several sibling files that appear together or not at all (e.g. ``_ids.npy`` + ``_idx.npz``)."""
    finals = [Path(p) for p in paths]
    tmps = [scratch_sibling(p) for p in finals]
    try:
        yield tmps
    except BaseException:
        for tmp in tmps:
            _remove(tmp)
        raise
    for tmp, final in zip(tmps, finals):
        os.replace(tmp, final)
