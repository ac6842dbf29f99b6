"""Which BLAS runs the segmentation engine's matrix products, chosen by measurement on this CPU.

* ``mkl``: Intel MKL, the ``libmklml_intel.so`` paddlepaddle ships (LAC needs Paddle, so every node that
  segments has it); its kernels follow the CPU's features (AVX-512, AVX2, ...) on Intel CPUs;
* ``openblas``: NumPy's bundled OpenBLAS. It picks its kernel by CPU model and falls back to an SSE3 kernel
  ("Prescott") on models it does not know (2.7x slower on some nodes), but it is the faster one where MKL
  2019 is slow: it runs its SSE code on AMD CPUs.

Either runs the engine in C++ (:mod:`ernie_pipeline.segment._gru_kernels`); ``numpy`` (NumPy's matmul, step by
step in Python) is left where the extension is not built or NumPy's BLAS cannot be opened.

Once per process, :func:`backend` times MKL and NumPy's matmul on the engine's own shapes (a GRU time step's
products and the second layer's input projection) and keeps the faster, so the engine never runs on the slower
one whatever OpenBLAS detects, on Intel or AMD. Nothing is read from or written to the environment:
``OPENBLAS_CORETYPE``, where a site sets it, is left as it is, and OpenBLAS's threads are limited to one only
for the duration of an engine call (threadpoolctl).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# (rows, inner, columns) of the engine's products at a time step of 256 sentences (a block of 8,192 characters
# of ~32-character sentences): the GRU gates (h @ W_gates) and candidate ((r * h) @ W_cand), and the second
# layer's input projection (one direction)
SHAPES = {"gru gates": (256, 96, 192), "gru candidate": (256, 96, 96), "input projection": (256, 192, 288)}
# multiply-adds per character in each: both directions of both layers step; the second layer projects
MACS_PER_CHAR = {"gru gates": 4 * 96 * 192, "gru candidate": 4 * 96 * 96, "input projection": 2 * 192 * 288}


@dataclass(frozen=True)
class Backend:
    name: str  # "mkl", "openblas" (both: the C++ engine) or "numpy" (NumPy's matmul, step by step)
    detail: str  # the library and kernel that runs
    gmacs: dict = field(default_factory=dict)  # backend -> shape -> measured GMAC/s (1 thread)


def paddle_libs() -> Path | None:
    """paddlepaddle's bundled libraries (``paddle/libs``), found without importing Paddle."""
    spec = importlib.util.find_spec("paddle")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "libs"
    return folder if (folder / "libmklml_intel.so").is_file() else None


def _kernels():
    try:
        from ernie_pipeline.segment import _gru_kernels
    except ImportError:
        return None
    return _gru_kernels


@functools.lru_cache(maxsize=None)
def load_mkl() -> str | None:
    """MKL's version string once it is loaded into the C++ extension; None where it cannot be."""
    kernels, folder = _kernels(), paddle_libs()
    if kernels is None or folder is None:
        return None
    try:
        return kernels.load_mkl(str(folder))
    except RuntimeError:
        return None


def _numpy_blas() -> dict:
    """threadpoolctl's record of NumPy's BLAS ({} where it finds none): the one in NumPy's wheel where other
    libraries (SciPy's wheel, ...) bring their own."""
    from threadpoolctl import threadpool_info

    found = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    numpy_dir = Path(np.__file__).parent
    bundled = [p for p in found if Path(p["filepath"]).parent in (numpy_dir.parent / "numpy.libs", numpy_dir / ".libs")]
    return (bundled or found or [{}])[0]


def openblas_detail() -> str:
    """NumPy's BLAS and the kernel it chose on this CPU (threadpoolctl)."""
    info = _numpy_blas()
    if not info:
        return "numpy"
    return f"{info.get('internal_api', 'blas')} {info.get('version', '?')} ({info.get('architecture', '?')} kernel)"


@functools.lru_cache(maxsize=None)
def load_openblas() -> bool:
    """Whether NumPy's BLAS is an OpenBLAS the C++ extension could open."""
    kernels, info = _kernels(), _numpy_blas()
    if kernels is None or info.get("internal_api") != "openblas":
        return False
    try:
        kernels.load_openblas(info["filepath"])
    except RuntimeError:
        return False
    return True


def one_thread(engine: Backend):
    """Context in which an engine call runs on one thread: OpenBLAS's count is process-wide, so it is limited for
    the call and restored (the C++ side does the same for MKL's, which it can set for its own thread)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas") if engine.name == "openblas" else contextlib.nullcontext()


def measure(name: str, shape: tuple[int, int, int], repeats: int = 5) -> float:
    """GMAC/s of backend ``name`` for ``shape`` products (about 2e7 multiply-adds per timing), best of
    ``repeats``, one thread."""
    from threadpoolctl import threadpool_limits

    rows, inner, columns = shape
    rng = np.random.default_rng(0)
    a = rng.random((rows, inner), dtype=np.float32)
    b = rng.random((inner, columns), dtype=np.float32)
    out = np.empty((rows, columns), np.float32)
    multiply = _kernels().sgemm if name == "mkl" else (lambda x, y, z: np.matmul(x, y, out=z))
    products = max(1, 20_000_000 // (rows * inner * columns))
    best = float("inf")
    with threadpool_limits(1, user_api="blas"):
        for _ in range(repeats + 1):  # the first run warms up
            start = time.perf_counter()
            for _ in range(products):
                multiply(a, b, out)
            best = min(best, time.perf_counter() - start)
    return products * rows * inner * columns / best / 1e9


def choose(rates: dict, mkl_version: str | None, openblas: bool) -> Backend:
    """The backend for measured ``rates`` (backend -> shape -> GMAC/s): MKL where its products cost the least per
    character (the weights being each shape's share of the work), else NumPy's OpenBLAS through the C++ engine
    where it can be opened, else NumPy's steps."""
    cost = {name: sum(MACS_PER_CHAR[label] / rate for label, rate in values.items()) for name, values in rates.items()}
    if mkl_version and cost["mkl"] <= cost["numpy"]:
        return Backend("mkl", f"MKL {mkl_version.split('Version ')[-1].split(' Product')[0]} (libmklml_intel.so)",
                       rates)
    if openblas:
        return Backend("openblas", f"NumPy's {openblas_detail()}", rates)
    return Backend("numpy", f"NumPy, {openblas_detail()}", rates)


@functools.lru_cache(maxsize=None)
def backend() -> Backend:
    """The faster of MKL and NumPy's BLAS on this CPU for the engine's shapes (NumPy's where MKL is missing)."""
    version = load_mkl()
    rates = {"numpy": {label: measure("numpy", shape) for label, shape in SHAPES.items()}}
    if version:
        rates["mkl"] = {label: measure("mkl", shape) for label, shape in SHAPES.items()}
    return choose(rates, version, load_openblas())
