"""Builds the C++ extensions (metadata lives in pyproject.toml):

ernie_pipeline.segment._gru_kernels  LAC's seg model through MKL; its activation loops compiled for AVX-512,
                             AVX2 + FMA, AVX and the baseline, chosen at run time, so one build runs
                             on any x86-64 node of a cluster;
ernie_pipeline.tokenize._wordpiece    whole-word WordPiece tokenisation for the token-id stage;
ernie_pipeline.clean._signatures     MinHash signatures, repetition measures and long n-gram hashes (clean stage).
"""
from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

setup(
    ext_modules=[
        Pybind11Extension(
            "ernie_pipeline.segment._gru_kernels",
            ["src/ernie_pipeline/segment/_gru_kernels.cpp"],
            cxx_std=17,
            # the vectorised floor/exp need these; the results stay IEEE floats (no -ffast-math)
            extra_compile_args=["-O3", "-fno-trapping-math", "-fno-math-errno"],
        ),
        Pybind11Extension(
            "ernie_pipeline.tokenize._wordpiece",
            ["src/ernie_pipeline/tokenize/_wordpiece.cpp"],
            cxx_std=17,
            extra_compile_args=["-O3"],
        ),
        Pybind11Extension(
            "ernie_pipeline.clean._signatures",
            ["src/ernie_pipeline/clean/_signatures.cpp"],
            cxx_std=17,
            extra_compile_args=["-O3"],
        ),
    ],
)
