"""Can this machine train on its GPUs with the installed Paddle? Checked before any training process starts.

Two things fail late and obscurely on a first GPU run, so they are checked up front, each with what to do:

* **Compute capability.** A Paddle GPU build carries kernels (SASS) for the compute capabilities it was
  compiled for and no PTX; a kernel built for X.y runs on a device X.z with z >= y (sm_80 kernels serve 8.6 and
  8.9) and on nothing else, where the first GPU op fails with "no kernel image is available". Paddle 3 says
  which it holds (``paddle.version.cuda_archs()``, e.g. ``[61, 70, 75, 80, 86, 89, 90]``); for builds that do
  not (Paddle 2.6) :data:`BUILD_ARCHITECTURES` holds the known ones. Which build serves which GPU generation:
  :data:`PADDLE_GPU_BUILDS` (Paddle's per-CUDA package index; README "GPU training").
* **CUDA libraries.** Paddle 3's GPU wheels from Paddle's index (``paddle.version.with_pip_cuda_libraries``
  ``ON``) depend on NVIDIA's ``nvidia-*-cuXX`` wheels and open them from ``site-packages/nvidia/<name>/lib``
  by their versioned names (``libcudnn.so.9``); a build without them (a source build, Paddle 2.6) opens the
  unversioned names (``libcudnn.so``) from ``LD_LIBRARY_PATH`` or ``/usr/local/cuda/lib64``. The check opens
  each the way the build will, in a child process (a broken cuDNN aborts whoever asks it), and compares the
  CUDA and cuDNN major versions with the build's.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# kernels (compute capabilities) of Paddle GPU builds that do not report them (paddle.version.cuda_archs() is
# Paddle 3's), by the CUDA version they were built with: PyPI's paddlepaddle-gpu==2.6.2 is the 11.8 one
BUILD_ARCHITECTURES = {"11.8": ((6, 1), (7, 0), (7, 5), (8, 0), (8, 6))}
PADDLE_INDEX = "https://www.paddlepaddle.org.cn/packages/stable"


@dataclass(frozen=True)
class PaddleGpuBuild:
    generations: str
    capabilities: tuple[tuple[int, int], tuple[int, int]]  # the first and last compute capability it serves
    cuda: str  # Paddle's index folder (cu118, ...)

    def install(self, version: str = "3.3.1") -> str:
        return f"pip install paddlepaddle-gpu=={version} -i {PADDLE_INDEX}/{self.cuda}/"


# Which of Paddle's per-CUDA builds to install for each GPU generation (Paddle's install tables: CUDA 11 for
# Pascal to Ada, CUDA 12 for Hopper, CUDA 12.9 from 3.2.1 on for Blackwell). Not run here: this project's
# machines reach neither a GPU nor Paddle's index.
PADDLE_GPU_BUILDS = (
    PaddleGpuBuild("Pascal 6.1 (P40, P4), Volta 7.0, Turing 7.5, Ampere 8.x, Ada 8.9", ((6, 1), (8, 9)), "cu118"),
    PaddleGpuBuild("Hopper 9.0 (H100, H200, H800)", ((9, 0), (9, 0)), "cu126"),
    PaddleGpuBuild("Blackwell 10.0 / 12.0 (B200, GB200, RTX 50xx)", ((10, 0), (12, 9)), "cu129"),
)
CUDA_LIB_DIR = "/usr/local/cuda/lib64"  # where a build without pip CUDA libraries also looks


def build_for(capability: tuple[int, int]) -> PaddleGpuBuild | None:
    return next((b for b in PADDLE_GPU_BUILDS if b.capabilities[0] <= capability <= b.capabilities[1]), None)


def remedy(pip_libraries: bool, cuda_version: str) -> str:
    if pip_libraries:
        return (f"reinstall paddlepaddle-gpu from Paddle's index with its dependencies (it requires the nvidia-*-cu"
                f"{cuda_version.split('.')[0]} wheels it opens; README 'GPU training'), or train in the conda "
                "environment envs/ernie-gpu.yaml (snakemake --software-deployment-method conda)")
    return (f"load the cluster's CUDA {cuda_version}, cuDNN and NCCL (e.g. module load cuda cudnn nccl) or put their "
            "lib folders on LD_LIBRARY_PATH; or install Paddle 3's GPU wheel from Paddle's index, which brings them "
            "(README 'GPU training')")


@dataclass(frozen=True)
class CudaLibrary:
    stem: str  # the library's name without .so
    what: str
    package: str  # its NVIDIA wheel's folder under site-packages/nvidia (the wheel: nvidia-<package>-cu<major>)
    multi_process_only: bool = False

    @property
    def name(self) -> str:  # the unversioned name a build without pip CUDA libraries opens
        return f"{self.stem}.so"

    def wheel(self, cuda_major: str) -> str:
        return f"nvidia-{self.package.replace('_', '-')}-cu{cuda_major}"


CUDA_LIBRARIES = (
    CudaLibrary("libcudart", "CUDA runtime", "cuda_runtime"),
    CudaLibrary("libcublas", "cuBLAS", "cublas"),
    CudaLibrary("libcublasLt", "cuBLASLt", "cublas"),
    CudaLibrary("libcudnn", "cuDNN", "cudnn"),
    CudaLibrary("libnccl", "NCCL", "nccl", multi_process_only=True),
)


def has_kernels(capability: tuple[int, int], built: tuple[tuple[int, int], ...]) -> bool:
    """Whether a build with SASS for ``built`` (and no PTX) runs on a device of ``capability``."""
    major, minor = capability
    return any(major == b_major and minor >= b_minor for b_major, b_minor in built)


def architectures(cuda_archs: list[int] | None, cuda_version: str) -> tuple[tuple[int, int], ...] | None:
    """The compute capabilities a build holds kernels for: Paddle 3's ``cuda_archs()`` (86 -> (8, 6)), else the
    known ones of its CUDA version; None where neither says (not checked)."""
    if cuda_archs:
        return tuple(sorted((arch // 10, arch % 10) for arch in cuda_archs))
    return BUILD_ARCHITECTURES.get(cuda_version)


def check_compute_capability(capabilities: dict[int, tuple[int, int]], built: tuple[tuple[int, int], ...] | None,
                             build: str) -> None:
    """Raise where a device (id -> (major, minor)) has no kernels among ``built`` (None: not known, not checked),
    naming the build of Paddle that serves it; ``build`` describes the installed one."""
    if built is None:
        return
    without = {device: cap for device, cap in capabilities.items() if not has_kernels(cap, built)}
    if not without:
        return
    listed = ", ".join(f"GPU {device}: compute capability {major}.{minor}" for device, (major, minor)
                       in sorted(without.items()))
    supported = ", ".join(f"{major}.{minor}" for major, minor in built)
    wanted = {build_for(cap) for cap in without.values()}
    advice = "; ".join(f"for {b.generations}: {b.install()}" for b in PADDLE_GPU_BUILDS if b in wanted) or (
        "no Paddle 3 build is known to serve it")
    raise RuntimeError(f"the installed {build} has no kernels for {listed}: it holds kernels for compute capability "
                       f"{supported} (and later minor versions of the same major); {advice} (README 'GPU training')")


def _open(library: CudaLibrary, nvidia_dir: str | None):
    """dlopen ``library`` as the build does: from its NVIDIA wheel's folder by its versioned name (pip CUDA
    libraries), else by its unversioned name from the library search path, then from CUDA's usual folder."""
    if nvidia_dir is not None:
        found = sorted(Path(nvidia_dir, library.package, "lib").glob(f"{library.stem}.so.*"), key=lambda p: len(p.name))
        if not found:
            raise OSError(f"no {library.stem}.so.* in {Path(nvidia_dir, library.package, 'lib')}")
        return ctypes.CDLL(str(found[0]))
    try:
        return ctypes.CDLL(library.name)
    except OSError:
        return ctypes.CDLL(f"{CUDA_LIB_DIR}/{library.name}")


def _int_out(function) -> int:
    """The int a C call returns through its pointer argument; 0 where the call fails (cudart without a driver)."""
    value = ctypes.c_int()
    return value.value if function(ctypes.byref(value)) == 0 else 0


def library_versions(nvidia_dir: str | None = None) -> dict[str, str | None]:
    """The version each library of :data:`CUDA_LIBRARIES` reports as a number string (cudart 12060: 12.6,
    cuDNN 90501: 9.5.1, NCCL 22501: 2.25.1), by its unversioned name; "" where it does not say, None for one that
    does not load. ``nvidia_dir``: the folder of NVIDIA's wheels a build with pip CUDA libraries opens them from."""
    calls = {"libcudart": lambda lib: _int_out(lib.cudaRuntimeGetVersion),
             "libcudnn": lambda lib: lib.cudnnGetVersion(),
             "libnccl": lambda lib: _int_out(lib.ncclGetVersion)}
    versions = {}
    for library in CUDA_LIBRARIES:
        try:
            handle = _open(library, nvidia_dir)
        except OSError:
            versions[library.name] = None
            continue
        call = calls.get(library.stem)
        version = call(handle) if call else 0
        versions[library.name] = str(version) if version else ""
    return versions


def probe_library_versions(nvidia_dir: str | None = None, cuda_version: str = "") -> dict[str, str | None]:
    """:func:`library_versions` in a child process: a broken install (cuDNN without its sub-libraries)
    aborts the process that asks it, and the error should name it instead."""
    done = subprocess.run([sys.executable, "-I", __file__, *([nvidia_dir] if nvidia_dir else [])], capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"probing the CUDA libraries ({', '.join(lib.name for lib in CUDA_LIBRARIES)}"
                           f"{f' in {nvidia_dir}' if nvidia_dir else ''}) crashed (exit {done.returncode}): "
                           f"{done.stderr.strip()[-2000:]}; {remedy(nvidia_dir is not None, cuda_version)}")
    return json.loads(done.stdout)


def _cudnn_major(version: int) -> int:
    """cuDNN's version number's major: 8600 is 8.6.0 (cuDNN 8: major x 1000), 90501 is 9.5.1 (9: x 10000)."""
    return version // 10000 if version >= 90000 else version // 1000


def check_cuda_libraries(versions: dict[str, str | None], cuda_version: str, cudnn_version: str, processes: int,
                         nvidia_dir: str | None = None) -> None:
    """Raise, naming each, where a library the build opens is missing or of another major version.
    ``versions`` as :func:`library_versions` gives them; ``processes`` > 1 needs NCCL too; ``nvidia_dir``: where a
    build with pip CUDA libraries opens them (None: a build that opens them by their unversioned names)."""
    problems = []
    cuda_major = cuda_version.split(".")[0]
    for library in CUDA_LIBRARIES:
        if library.multi_process_only and processes == 1:
            continue
        if versions.get(library.name) is None:
            where = f"{Path(nvidia_dir, library.package, 'lib')}/{library.stem}.so.*" if nvidia_dir else library.name
            problems.append(f"{where} ({library.what}; pip: {library.wheel(cuda_major)}) does not load")
    cudart, cudnn = versions.get("libcudart.so"), versions.get("libcudnn.so")
    wanted = tuple(int(part) for part in cuda_version.split(".")[:2])
    if cudart:
        found = (int(cudart) // 1000, int(cudart) % 1000 // 10)
        if found[0] != wanted[0] or found < wanted:
            problems.append(f"libcudart is CUDA {found[0]}.{found[1]}, the build needs {cuda_version} or a "
                            f"later {wanted[0]}.x")
    cudnn_major = cudnn_version.split(".")[0]
    if cudnn and str(_cudnn_major(int(cudnn))) != cudnn_major:
        problems.append(f"libcudnn is cuDNN {_cudnn_major(int(cudnn))}.x, the build needs cuDNN {cudnn_major}.x")
    if problems:
        raise RuntimeError(f"Paddle's GPU build (CUDA {cuda_version}, cuDNN {cudnn_version}) cannot open the CUDA "
                           f"libraries it needs: {'; '.join(problems)}; {remedy(nvidia_dir is not None, cuda_version)}")


def gpu_count() -> int:
    """How many GPUs this process's Paddle can use; a clear error where Paddle is a CPU-only build."""
    import paddle

    if not paddle.is_compiled_with_cuda():
        raise RuntimeError(f"config train.device: gpu, but the installed Paddle ({paddle.__version__}) is a CPU-only "
                           "build (paddlepaddle, not paddlepaddle-gpu): install the GPU build for your GPUs (README, "
                           "'GPU training'), or set train.device: cpu")
    return paddle.device.cuda.device_count()


def pip_cuda_dir(paddle) -> str | None:
    """The NVIDIA wheels' folder a build with pip CUDA libraries opens them from (site-packages/nvidia, as Paddle
    3's ``__init__`` sets its FLAGS_*_dir); None for a build that opens them by name."""
    if getattr(paddle.version, "with_pip_cuda_libraries", "OFF") != "ON":
        return None
    return str(Path(paddle.__file__).resolve().parent.parent / "nvidia")


def check_gpu_runtime(processes: int) -> None:
    """Check that Paddle's GPU build can train with ``processes`` processes (on this node or over several):
    the CUDA libraries it opens (NCCL for several processes) and kernels for every GPU it sees."""
    import paddle

    nvidia_dir, cuda = pip_cuda_dir(paddle), paddle.version.cuda()
    check_cuda_libraries(probe_library_versions(nvidia_dir, cuda), cuda, paddle.version.cudnn(), processes, nvidia_dir)
    capabilities = {device: tuple(paddle.device.cuda.get_device_capability(device))
                    for device in range(paddle.device.cuda.device_count())}
    archs = paddle.version.cuda_archs() if hasattr(paddle.version, "cuda_archs") else None
    check_compute_capability(capabilities, architectures(archs, cuda),
                             f"paddlepaddle-gpu {paddle.__version__} (CUDA {cuda})")


if __name__ == "__main__":  # the child of probe_library_versions
    print(json.dumps(library_versions(sys.argv[1] if len(sys.argv) > 1 else None)))
