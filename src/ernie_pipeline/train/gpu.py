"""Can this machine train on its GPUs with the installed Paddle? Checked before any training process starts.

Two things fail late and obscurely on a first GPU run, so they are checked up front, each with what to do:

* **Compute capability.** The pinned ``paddlepaddle-gpu==2.6.2`` (PyPI) is the CUDA 11.8 build with kernels
  (SASS) for compute capability 6.1, 7.0, 7.5, 8.0 and 8.6 and no PTX. A kernel built for X.y runs on a
  device X.z with z >= y (so sm_86 kernels serve Ada, 8.9) and on nothing else: not on a P100 (6.0), not on
  Hopper (9.0: H100, H200, H800), where the first GPU op fails with "no kernel image is available".
* **CUDA libraries.** That wheel links none of CUDA: it opens the runtime, cuBLAS, cuDNN and NCCL at run time
  by their unversioned names (``libcudnn.so``, ...) from ``LD_LIBRARY_PATH`` (or ``/usr/local/cuda/lib64``).
  ``envs/ernie-gpu.yaml`` brings them as ``nvidia-*-cu11`` wheels and its post-deploy script links them
  under those names; elsewhere a cluster's ``module load`` provides them.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from dataclasses import dataclass

# kernels (compute capabilities) of Paddle's GPU builds, by the CUDA version they were built with
# (paddle.version.cuda()); the PyPI paddlepaddle-gpu==2.6.2 is the 11.8 one
BUILD_ARCHITECTURES = {"11.8": ((6, 1), (7, 0), (7, 5), (8, 0), (8, 6))}
HOPPER_INSTALL = ("for Hopper (compute capability 9.0: H100, H200, H800) install Paddle's CUDA 12 build of the "
                  "same version from Paddle's own index instead: pip install paddlepaddle-gpu==2.6.2.post120 "
                  "-f https://www.paddlepaddle.org.cn/whl/linux/mkl/avx/stable.html (README, 'GPU training')")
CUDA_LIB_DIR = "/usr/local/cuda/lib64"  # where Paddle also looks for them
REMEDY = ("train in the conda environment envs/ernie-gpu.yaml (snakemake --software-deployment-method conda: its "
          "nvidia-*-cu11 wheels, linked at deploy time), or load the cluster's CUDA 11.8, cuDNN 8 and NCCL 2 "
          "(e.g. module load cuda/11.8 cudnn/8.6 nccl), or put their lib folders on LD_LIBRARY_PATH")


@dataclass(frozen=True)
class CudaLibrary:
    name: str  # the file name Paddle 2.6 opens
    what: str
    wheel: str  # the pip wheel of envs/ernie-gpu.yaml that brings it
    multi_process_only: bool = False


CUDA_LIBRARIES = (
    CudaLibrary("libcudart.so", "CUDA runtime 11.x", "nvidia-cuda-runtime-cu11"),
    CudaLibrary("libcublas.so", "cuBLAS 11", "nvidia-cublas-cu11"),
    CudaLibrary("libcublasLt.so", "cuBLASLt 11", "nvidia-cublas-cu11"),
    CudaLibrary("libcudnn.so", "cuDNN 8", "nvidia-cudnn-cu11"),
    CudaLibrary("libnccl.so", "NCCL 2", "nvidia-nccl-cu11", multi_process_only=True),
)


def has_kernels(capability: tuple[int, int], built: tuple[tuple[int, int], ...]) -> bool:
    """Whether a build with SASS for ``built`` (and no PTX) runs on a device of ``capability``."""
    major, minor = capability
    return any(major == b_major and minor >= b_minor for b_major, b_minor in built)


def check_compute_capability(capabilities: dict[int, tuple[int, int]], cuda_version: str, paddle_version: str):
    """Raise where a device (id -> (major, minor)) has no kernels in Paddle's build for ``cuda_version``.
    Builds not in :data:`BUILD_ARCHITECTURES` (a CUDA 12 build a user installed) are not checked."""
    built = BUILD_ARCHITECTURES.get(cuda_version)
    if built is None:
        return
    without = {device: cap for device, cap in capabilities.items() if not has_kernels(cap, built)}
    if without:
        listed = ", ".join(f"GPU {device}: compute capability {major}.{minor}" for device, (major, minor)
                           in sorted(without.items()))
        supported = ", ".join(f"{major}.{minor}" for major, minor in built)
        raise RuntimeError(f"the installed paddlepaddle-gpu {paddle_version} (CUDA {cuda_version}) has no kernels "
                           f"for {listed}: it runs on compute capability {supported} and later minor versions of "
                           f"the same major (Pascal P40/P4, Volta, Turing, Ampere, Ada); {HOPPER_INSTALL}")


def _load(name: str):
    """dlopen ``name`` as Paddle does: from the library search path, then from CUDA's usual folder."""
    try:
        return ctypes.CDLL(name)
    except OSError:
        return ctypes.CDLL(f"{CUDA_LIB_DIR}/{name}")


def _int_out(function) -> int:
    """The int a C call returns through its pointer argument; 0 where the call fails (cudart without a driver)."""
    value = ctypes.c_int()
    return value.value if function(ctypes.byref(value)) == 0 else 0


def library_versions(load=_load) -> dict[str, str | None]:
    """The version each library of :data:`CUDA_LIBRARIES` reports as a number string (cudart 11080: 11.8,
    cuDNN 8600: 8.6.0, NCCL 21605: 2.16.5); "" where it does not say, None for one that does not load."""
    calls = {"libcudart.so": lambda lib: _int_out(lib.cudaRuntimeGetVersion),
             "libcudnn.so": lambda lib: lib.cudnnGetVersion(),
             "libnccl.so": lambda lib: _int_out(lib.ncclGetVersion)}
    versions = {}
    for library in CUDA_LIBRARIES:
        try:
            handle = load(library.name)
        except OSError:
            versions[library.name] = None
            continue
        call = calls.get(library.name)
        version = call(handle) if call else 0
        versions[library.name] = str(version) if version else ""
    return versions


def probe_library_versions() -> dict[str, str | None]:
    """:func:`library_versions` in a child process: a broken install (cuDNN without its sub-libraries)
    aborts the process that asks it, and the error should name it instead."""
    done = subprocess.run([sys.executable, "-I", __file__], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"probing the CUDA libraries ({', '.join(lib.name for lib in CUDA_LIBRARIES)}) crashed "
                           f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}; {REMEDY}")
    return json.loads(done.stdout)


def check_cuda_libraries(versions: dict[str, str | None], cuda_version: str, cudnn_version: str,
                         processes: int) -> None:
    """Raise, naming each, where a library the build opens is missing or of another major version.
    ``versions`` as :func:`library_versions` gives them; ``processes`` > 1 needs NCCL too."""
    problems = []
    for library in CUDA_LIBRARIES:
        if library.multi_process_only and processes == 1:
            continue
        if versions.get(library.name) is None:
            problems.append(f"{library.name} ({library.what}; pip: {library.wheel}) does not load")
    cudart, cudnn = versions.get("libcudart.so"), versions.get("libcudnn.so")
    wanted = tuple(int(part) for part in cuda_version.split(".")[:2])
    if cudart:
        found = (int(cudart) // 1000, int(cudart) % 1000 // 10)
        if found[0] != wanted[0] or found < wanted:
            problems.append(f"libcudart.so is CUDA {found[0]}.{found[1]}, the build needs {cuda_version} or a "
                            f"later {wanted[0]}.x")
    cudnn_major = cudnn_version.split(".")[0]
    if cudnn and str(int(cudnn) // 1000) != cudnn_major:
        problems.append(f"libcudnn.so is cuDNN {int(cudnn) // 1000}.{int(cudnn) % 1000 // 100}, the build needs "
                        f"cuDNN {cudnn_major}.x")
    if problems:
        raise RuntimeError(f"Paddle's GPU build (CUDA {cuda_version}, cuDNN {cudnn_version}) cannot open the CUDA "
                           f"libraries it needs: {'; '.join(problems)}; {REMEDY}")


def gpu_count() -> int:
    """How many GPUs this process's Paddle can use; a clear error where Paddle is a CPU-only build."""
    import paddle

    if not paddle.is_compiled_with_cuda():
        raise RuntimeError(f"config train.device: gpu, but the installed Paddle ({paddle.__version__}) is a CPU-only "
                           "build (paddlepaddle, not paddlepaddle-gpu): install the GPU environment (README, "
                           "'GPU training') or set train.device: cpu")
    return paddle.device.cuda.device_count()


def check_gpu_runtime(processes: int) -> None:
    """Check that Paddle's GPU build can train with ``processes`` processes (on this node or over several):
    the CUDA libraries it opens (NCCL for several processes) and kernels for every GPU it sees."""
    import paddle

    check_cuda_libraries(probe_library_versions(), paddle.version.cuda(), paddle.version.cudnn(), processes)
    capabilities = {device: tuple(paddle.device.cuda.get_device_capability(device))
                    for device in range(paddle.device.cuda.device_count())}
    check_compute_capability(capabilities, paddle.version.cuda(), paddle.__version__)


if __name__ == "__main__":  # the child of probe_library_versions
    print(json.dumps(library_versions()))
