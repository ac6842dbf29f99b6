"""ERNIE 1.0 Chinese pretraining pipeline: raw corpus -> segmented jsonl -> vocab -> token ids ->
index maps -> pretraining.

Importing this package first makes the system zlib win over the old zlib copy inside Paddle (see
:mod:`ernie_pipeline.io.system_zlib`); every entry point (Snakemake scripts, console tools, tests) imports it
before Paddle.
"""

from ernie_pipeline.io.system_zlib import preload_system_zlib

preload_system_zlib()

__version__ = "0.1.0"
