"""The checks before GPU training (ernie_pipeline.train.gpu) and the GPU env's CUDA library links (its post-deploy)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ernie_pipeline.train import gpu

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("capability, runs", [
    ((6, 0), False),  # P100: no sm_60 kernels
    ((6, 1), True),  # P40 / P4
    ((7, 0), True),  # V100
    ((7, 5), True),  # T4
    ((8, 0), True),  # A100
    ((8, 6), True),  # A10, RTX 3090
    ((8, 9), True),  # L4, L40, RTX 4090: sm_86 kernels run on 8.9
    ((9, 0), False),  # H100, H200: no kernels, no PTX to compile
    ((5, 2), False),
])
def test_which_gpus_the_pinned_build_runs_on(capability, runs):
    assert gpu.has_kernels(capability, gpu.BUILD_ARCHITECTURES["11.8"]) is runs


def test_a_hopper_gpu_is_refused_with_the_cuda_12_install():
    gpu.check_compute_capability({0: (8, 0), 1: (8, 0)}, "11.8", "2.6.2")
    with pytest.raises(RuntimeError) as refused:
        gpu.check_compute_capability({0: (9, 0), 1: (9, 0)}, "11.8", "2.6.2")
    message = str(refused.value)
    assert "paddlepaddle-gpu 2.6.2 (CUDA 11.8) has no kernels for GPU 0: compute capability 9.0, GPU 1" in message
    assert "pip install paddlepaddle-gpu==2.6.2.post120 -f https://www.paddlepaddle.org.cn/whl" in message
    gpu.check_compute_capability({0: (9, 0)}, "12.0", "2.6.2")  # a CUDA 12 build: not in the table, not refused


GOOD = {"libcudart.so": "11080", "libcublas.so": "", "libcublasLt.so": "", "libcudnn.so": "8600",
        "libnccl.so": "21605"}


@pytest.mark.parametrize("changed, processes, problem", [
    ({}, 2, None),
    ({"libcudart.so": "11080"}, 1, None),
    ({"libcudart.so": ""}, 1, None),  # no driver to ask: the version is not judged
    ({"libnccl.so": None}, 1, None),  # one process needs no NCCL
    ({"libnccl.so": None}, 2, "libnccl.so (NCCL 2; pip: nvidia-nccl-cu11) does not load"),
    ({"libcudnn.so": None}, 1, "libcudnn.so (cuDNN 8; pip: nvidia-cudnn-cu11) does not load"),
    ({"libcublasLt.so": None}, 1, "libcublasLt.so (cuBLASLt 11; pip: nvidia-cublas-cu11) does not load"),
    ({"libcudnn.so": "9100"}, 1, "libcudnn.so is cuDNN 9.1, the build needs cuDNN 8.x"),
    ({"libcudart.so": "11020"}, 1, "libcudart.so is CUDA 11.2, the build needs 11.8 or a later 11.x"),
    ({"libcudart.so": "12040"}, 1, "libcudart.so is CUDA 12.4, the build needs 11.8 or a later 11.x"),
])
def test_cuda_libraries_are_checked_by_name_and_major_version(changed, processes, problem):
    versions = dict(GOOD, **changed)
    if problem is None:
        gpu.check_cuda_libraries(versions, "11.8", "8.6.0", processes)
        return
    with pytest.raises(RuntimeError) as refused:
        gpu.check_cuda_libraries(versions, "11.8", "8.6.0", processes)
    assert problem in str(refused.value)
    assert "envs/ernie-gpu.yaml" in str(refused.value) and "module load cuda/11.8" in str(refused.value)


# Stand-ins for the nvidia-*-cu11 wheels' libraries: real shared objects with their version calls, in the
# wheels' layout (nvidia/<name>/lib/<versioned file>)
FAKE_WHEELS = {
    "cuda_runtime/lib/libcudart.so.11.0": "int cudaRuntimeGetVersion(int *v) { *v = 11080; return 0; }",
    "cublas/lib/libcublas.so.11": "int cublasCreate_v2(void **h) { return 0; }",
    "cublas/lib/libcublasLt.so.11": "int cublasLtCreate(void **h) { return 0; }",
    "cudnn/lib/libcudnn.so.8": "unsigned long cudnnGetVersion(void) { return 8600; }",
    "nccl/lib/libnccl.so.2": "int ncclGetVersion(int *v) { *v = 21605; return 0; }",
}


@pytest.fixture
def gpu_env(tmp_path):
    """A Python environment holding the fake CUDA wheels, after envs/ernie-gpu.post-deploy.sh ran in it."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(subprocess.run([env / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for relative, source in FAKE_WHEELS.items():
        library = site / "nvidia" / relative
        library.parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fake.c").write_text(source + "\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(tmp_path / "fake.c")], check=True)
    path = f"{env / 'bin'}:{os.environ['PATH']}"
    subprocess.run(["bash", str(REPO / "envs/ernie-gpu.post-deploy.sh")], check=True,
                   env=dict(os.environ, PATH=path, PIP="true"))  # PIP=true: LAC is not built here
    return env, site


def _probe(env: Path) -> dict:
    """probe_library_versions() in the activated environment ``env`` (conda runs its activate.d scripts)."""
    script = (f"source {env}/etc/conda/activate.d/ernie-cuda.sh && "
              f"{env}/bin/python -c 'import json, sys; sys.path.insert(0, \"{REPO / 'src'}\"); "
              "from ernie_pipeline.train.gpu import probe_library_versions; print(json.dumps(probe_library_versions()))'")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_gpu_env_links_the_cuda_wheels_under_the_names_paddle_opens(gpu_env):
    env, site = gpu_env
    links = env / "lib/ernie-cuda"
    assert sorted(p.name for p in links.iterdir()) == sorted(
        Path(relative).name.split(".so")[0] + ".so" for relative in FAKE_WHEELS)
    assert (links / "libcudnn.so").resolve() == site / "nvidia/cudnn/lib/libcudnn.so.8"
    versions = _probe(env)
    assert versions == GOOD  # each opened by its unversioned name, as Paddle does, and asked its version
    gpu.check_cuda_libraries(versions, "11.8", "8.6.0", processes=8)
    # deactivation restores the library path
    restored = subprocess.run(["bash", "-c", f"export LD_LIBRARY_PATH=/opt/x; source {env}/etc/conda/activate.d/"
                               f"ernie-cuda.sh; source {env}/etc/conda/deactivate.d/ernie-cuda.sh; "
                               "echo $LD_LIBRARY_PATH"], capture_output=True, text=True, check=True).stdout.strip()
    assert restored == "/opt/x"


def test_a_missing_wheel_is_named_and_a_crashing_library_does_not_take_the_job_down(gpu_env):
    env, site = gpu_env
    (env / "lib/ernie-cuda/libcublasLt.so").unlink()
    shutil.rmtree(site / "nvidia/cublas")
    versions = _probe(env)
    assert versions["libcublas.so"] is None and versions["libcublasLt.so"] is None
    with pytest.raises(RuntimeError, match=r"libcublas.so \(cuBLAS 11; pip: nvidia-cublas-cu11\) does not load"):
        gpu.check_cuda_libraries(versions, "11.8", "8.6.0", processes=1)
    # a cuDNN whose version call aborts (as cuDNN 8 does without its sub-libraries): an error naming it
    (site / "nvidia/cudnn/lib/libcudnn.so.8").unlink()
    (env / "fake.c").write_text("#include <stdlib.h>\nunsigned long cudnnGetVersion(void) { abort(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(site / "nvidia/cudnn/lib/libcudnn.so.8"),
                    str(env / "fake.c")], check=True)
    script = (f"source {env}/etc/conda/activate.d/ernie-cuda.sh && {env}/bin/python -c 'import sys; "
              f"sys.path.insert(0, \"{REPO / 'src'}\"); from ernie_pipeline.train.gpu import probe_library_versions; "
              "probe_library_versions()'")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert done.returncode == 1
    assert "RuntimeError: probing the CUDA libraries (libcudart.so, libcublas.so" in done.stderr
    assert "crashed (exit -6)" in done.stderr
