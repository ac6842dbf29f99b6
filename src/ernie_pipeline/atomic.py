"""Write outputs under a temporary name and rename them into place, so a crash or a bad input never
leaves a half-written artifact behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _tmp_sibling(path: Path, is_dir: bool) -> Path:
    """A fresh temporary file or folder beside ``path``, with the permissions a plain create gets
    (mkstemp/mkdtemp make them private, which would hide artifacts from a shared cluster group)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        name = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(name, 0o777 & ~_umask())
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.chmod(name, 0o666 & ~_umask())
    return Path(name)


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
    tmp = _tmp_sibling(final, is_dir)
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


@contextlib.contextmanager
def atomic_outputs(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Several sibling files that appear together or not at all (e.g. ``_ids.npy`` + ``_idx.npz``)."""
    finals = [Path(p) for p in paths]
    tmps = [_tmp_sibling(p, False) for p in finals]
    try:
        yield tmps
    except BaseException:
        for tmp in tmps:
            _remove(tmp)
        raise
    for tmp, final in zip(tmps, finals):
        os.replace(tmp, final)
