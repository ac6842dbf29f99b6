"""Send a job's output to its Snakemake log file."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def to_file(path: str | os.PathLike | None) -> None:
    """Redirect this process's stdout and stderr (file descriptors too, so Paddle's C++ logs and
    worker processes follow) to ``path``, and log INFO lines there."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8", closefd=False)
    # Our own logger with its own handler: Paddle reconfigures the root logger when it is imported.
    logger = logging.getLogger("ernie_pipeline")
    logger.handlers[:] = [logging.StreamHandler(sys.stderr)]
    logger.handlers[0].setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.setLevel(logging.INFO)
    logger.propagate = False
