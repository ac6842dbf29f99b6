"""The checks before GPU training: with Paddle (ernie_pipeline.train.paddle_backend.gpu: kernels for the GPUs, the CUDA
libraries the build opens) and with torch (ernie_pipeline.train.torch_backend.gpu: kernels, bf16, NCCL); the conda envs'
pins."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ernie_pipeline.train.paddle_backend import gpu

REPO = Path(__file__).resolve().parents[2]
# what a Paddle 3 cu126 build reports (paddle.version.cuda_archs()), as seen in Paddle's own error messages
CU12_ARCHS = [61, 70, 75, 80, 86, 89, 90]


@pytest.mark.parametrize("capability, runs_2_6, runs_cu12", [
    ((6, 0), False, False),  # P100: no sm_60 kernels
    ((6, 1), True, True),  # P40 / P4
    ((7, 0), True, True),  # V100
    ((7, 5), True, True),  # T4
    ((8, 0), True, True),  # A100
    ((8, 6), True, True),  # A10, RTX 3090
    ((8, 9), True, True),  # L4, L40, RTX 4090: sm_86 kernels run on 8.9
    ((9, 0), False, True),  # H100, H200
    ((10, 0), False, False),  # B200: no kernels, no PTX to compile
    ((5, 2), False, False),
])
def test_which_gpus_a_build_runs_on(capability, runs_2_6, runs_cu12):
    """A build reporting its kernels (Paddle 3's cuda_archs()) is judged by them; one that does not (2.6.2) by the
    table of its CUDA version; one neither knows is not judged."""
    assert gpu.has_kernels(capability, gpu.architectures(None, "11.8")) is runs_2_6
    assert gpu.has_kernels(capability, gpu.architectures(CU12_ARCHS, "12.6")) is runs_cu12
    assert gpu.architectures(None, "12.6") is None and gpu.architectures([], "12.6") is None


def test_a_gpu_without_kernels_is_refused_with_the_build_for_its_generation():
    cu118 = gpu.architectures([61, 70, 75, 80, 86], "11.8")
    gpu.check_compute_capability({0: (8, 0), 1: (8, 9)}, cu118, "paddlepaddle-gpu 3.3.1 (CUDA 11.8)")
    with pytest.raises(RuntimeError) as refused:
        gpu.check_compute_capability({0: (9, 0), 1: (9, 0)}, cu118, "paddlepaddle-gpu 3.3.1 (CUDA 11.8)")
    message = str(refused.value)
    assert "paddlepaddle-gpu 3.3.1 (CUDA 11.8) has no kernels for GPU 0: compute capability 9.0, GPU 1" in message
    assert "for Hopper 9.0 (H100, H200, H800): pip install paddlepaddle-gpu==3.3.1 -i " \
           "https://www.paddlepaddle.org.cn/packages/stable/cu126/" in message
    with pytest.raises(RuntimeError, match=r"for Blackwell .*stable/cu129/"):
        gpu.check_compute_capability({0: (12, 0)}, gpu.architectures(CU12_ARCHS, "12.6"), "paddlepaddle-gpu 3.3.1")
    with pytest.raises(RuntimeError, match=r"for Pascal .*stable/cu118/"):
        gpu.check_compute_capability({3: (6, 1)}, gpu.architectures([80, 90], "12.6"), "paddlepaddle-gpu 3.3.1")
    with pytest.raises(RuntimeError, match="no Paddle 3 build is known to serve it"):
        gpu.check_compute_capability({0: (6, 0)}, cu118, "paddlepaddle-gpu 3.3.1")
    gpu.check_compute_capability({0: (9, 0)}, None, "a source build")  # kernels unknown: not refused


CU12 = {"libcudart.so": "12060", "libcublas.so": "", "libcublasLt.so": "", "libcudnn.so": "90501",
        "libnccl.so": "22501"}
CU11 = {"libcudart.so": "11080", "libcublas.so": "", "libcublasLt.so": "", "libcudnn.so": "8600",
        "libnccl.so": "21605"}


@pytest.mark.parametrize("build, changed, processes, problem", [
    ("12.6", {}, 2, None),
    ("12.6", {"libcudart.so": "12080"}, 1, None),  # a later 12.x runtime
    ("12.6", {"libcudart.so": ""}, 1, None),  # no driver to ask: the version is not judged
    ("12.6", {"libnccl.so": None}, 1, None),  # one process needs no NCCL
    ("12.6", {"libnccl.so": None}, 2, "/nvidia/nccl/lib/libnccl.so.* (NCCL; pip: nvidia-nccl-cu12) does not load"),
    ("12.6", {"libcudnn.so": None}, 1, "/nvidia/cudnn/lib/libcudnn.so.* (cuDNN; pip: nvidia-cudnn-cu12) does not load"),
    ("12.6", {"libcublasLt.so": None}, 1, "libcublasLt.so.* (cuBLASLt; pip: nvidia-cublas-cu12) does not load"),
    ("12.6", {"libcudnn.so": "8600"}, 1, "libcudnn is cuDNN 8.x, the build needs cuDNN 9.x"),
    ("12.6", {"libcudart.so": "12040"}, 1, "libcudart is CUDA 12.4, the build needs 12.6 or a later 12.x"),
    ("11.8", {}, 2, None),
    ("11.8", {"libcudnn.so": "90501"}, 1, "libcudnn is cuDNN 9.x, the build needs cuDNN 8.x"),
    ("11.8", {"libcudart.so": "12040"}, 1, "libcudart is CUDA 12.4, the build needs 11.8 or a later 11.x"),
])
def test_cuda_libraries_are_checked_by_name_and_major_version(build, changed, processes, problem):
    versions, cudnn = (dict(CU12, **changed), "9.5.1") if build == "12.6" else (dict(CU11, **changed), "8.6.0")
    if problem is None:
        gpu.check_cuda_libraries(versions, build, cudnn, processes, "/site/nvidia")
        return
    with pytest.raises(RuntimeError) as refused:
        gpu.check_cuda_libraries(versions, build, cudnn, processes, "/site/nvidia")
    assert problem in str(refused.value)
    assert "reinstall paddlepaddle-gpu from Paddle's index" in str(refused.value)


def test_a_build_without_pip_libraries_is_told_to_load_the_clusters_cuda():
    with pytest.raises(RuntimeError) as refused:
        gpu.check_cuda_libraries(dict(CU11, **{"libcudnn.so": None}), "11.8", "8.6.0", 1, nvidia_dir=None)
    assert "libcudnn.so (cuDNN; pip: nvidia-cudnn-cu11) does not load" in str(refused.value)
    assert "module load cuda cudnn nccl" in str(refused.value)


# Stand-ins for NVIDIA's CUDA 12 wheels that Paddle 3's GPU wheel requires: real shared objects with their version
# calls, in the wheels' layout (site-packages/nvidia/<name>/lib/<versioned file>)
FAKE_WHEELS = {
    "cuda_runtime/lib/libcudart.so.12": "int cudaRuntimeGetVersion(int *v) { *v = 12060; return 0; }",
    "cublas/lib/libcublas.so.12": "int cublasCreate_v2(void **h) { return 0; }",
    "cublas/lib/libcublasLt.so.12": "int cublasLtCreate(void **h) { return 0; }",
    "cudnn/lib/libcudnn.so.9": "unsigned long cudnnGetVersion(void) { return 90501; }",
    "nccl/lib/libnccl.so.2": "int ncclGetVersion(int *v) { *v = 22501; return 0; }",
}


@pytest.fixture
def nvidia_dir(tmp_path):
    for relative, source in FAKE_WHEELS.items():
        library = tmp_path / "nvidia" / relative
        library.parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fake.c").write_text(source + "\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(tmp_path / "fake.c")], check=True)
    return tmp_path / "nvidia"


def test_the_pip_cuda_libraries_are_opened_where_paddle_opens_them(nvidia_dir):
    """Each library is opened by its versioned name from its wheel's folder, as Paddle 3 does, and asked its
    version (in a child process)."""
    versions = gpu.probe_library_versions(str(nvidia_dir), "12.6")
    assert versions == CU12
    gpu.check_cuda_libraries(versions, "12.6", "9.5.1", 8, str(nvidia_dir))
    assert all(v is None for v in gpu.library_versions(str(nvidia_dir.parent / "elsewhere")).values())


def test_a_missing_wheel_is_named_and_a_crashing_library_does_not_take_the_job_down(nvidia_dir, tmp_path):
    import shutil

    shutil.rmtree(nvidia_dir / "cublas")
    versions = gpu.probe_library_versions(str(nvidia_dir), "12.6")
    assert versions["libcublas.so"] is None and versions["libcublasLt.so"] is None
    with pytest.raises(RuntimeError, match=r"nvidia/cublas/lib/libcublas.so.\* \(cuBLAS; pip: nvidia-cublas-cu12\)"):
        gpu.check_cuda_libraries(versions, "12.6", "9.5.1", 1, str(nvidia_dir))
    # a cuDNN whose version call aborts (as cuDNN does without its sub-libraries): an error naming it
    (tmp_path / "fake.c").write_text("#include <stdlib.h>\nunsigned long cudnnGetVersion(void) { abort(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(nvidia_dir / "cudnn/lib/libcudnn.so.9"),
                    str(tmp_path / "fake.c")], check=True)
    with pytest.raises(RuntimeError, match=r"probing the CUDA libraries \(libcudart.so, .*\) crashed \(exit -6\)"):
        gpu.probe_library_versions(str(nvidia_dir), "12.6")


def test_a_build_without_pip_libraries_opens_them_by_their_unversioned_names(nvidia_dir, tmp_path):
    """Paddle 2.6 and source builds open libcudnn.so ... from the library search path."""
    flat = tmp_path / "lib"
    flat.mkdir()
    for relative in FAKE_WHEELS:
        (flat / (Path(relative).name.split(".so")[0] + ".so")).symlink_to(nvidia_dir / relative)
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from ernie_pipeline.train.paddle_backend.gpu import "
            "probe_library_versions; print(json.dumps(probe_library_versions()))")
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "src")], capture_output=True, text=True, check=True,
                          env={"LD_LIBRARY_PATH": str(flat), "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == __import__("json").dumps(CU12)


def _pins(path: Path) -> dict[str, str]:
    return dict(m.groups() for m in re.finditer(r"^\s*(?:- )?([A-Za-z0-9_.-]+)==(\S+)$", path.read_text(), re.M))


def test_the_conda_envs_hold_the_locks_pins():
    """envs/ernie-cpu.yaml is requirements.lock without the lint tools (and LAC, built by its post-deploy);
    envs/ernie-gpu.yaml the same with paddlepaddle-gpu of the same version from Paddle's index."""
    lock = _pins(REPO / "requirements.lock")
    tools = {"black", "ruff", "snakefmt", "shfmt-py", "pathspec", "pytokens", "mypy_extensions", "LAC"}
    runtime = {k: v for k, v in lock.items() if k not in tools}
    assert _pins(REPO / "envs/ernie-cpu.yaml") == runtime
    gpu_pins = _pins(REPO / "envs/ernie-gpu.yaml")
    assert gpu_pins.pop("paddlepaddle-gpu") == runtime.pop("paddlepaddle") and gpu_pins == runtime
    assert "--extra-index-url https://www.paddlepaddle.org.cn/packages/stable/cu126/" in \
           (REPO / "envs/ernie-gpu.yaml").read_text()
    assert (REPO / "envs/ernie-gpu.post-deploy.sh").resolve() == (REPO / "envs/ernie-cpu.post-deploy.sh").resolve()
    assert _pins(REPO / "envs/ernie-torch.yaml") == _pins(REPO / "requirements-torch.lock")


# what PyPI's torch builds report (torch.cuda.get_arch_list()): CUDA 12.8 wheels serve Volta to Blackwell with PTX
CU128 = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]
CU118 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "compute_90"]


@pytest.mark.parametrize("capability, arch_list, runs", [
    ((9, 0), CU128, True), ((10, 0), CU128, True), ((12, 0), CU128, True), ((8, 9), CU128, True),  # sm_86 on 8.9
    ((6, 1), CU128, False), ((10, 0), CU118, True),  # compute_90: the driver compiles the PTX for 10.0
    ((6, 1), CU118, True), ((9, 0), ["sm_80", "sm_86"], False), ((9, 0), ["sm_90a"], True)])
def test_which_gpus_a_torch_build_runs_on(capability, arch_list, runs):
    from ernie_pipeline.train.torch_backend.gpu import runs_on

    assert runs_on(capability, arch_list) is runs


def test_the_torch_gpu_check_names_each_problem():
    from ernie_pipeline.train.torch_backend.gpu import check_devices

    check_devices({0: (9, 0), 1: (9, 0)}, CU128, 2, "bf16", True, "2.9.1")
    with pytest.raises(RuntimeError) as refused:
        check_devices({0: (7, 0), 1: (6, 0)}, CU128, 4, "bf16", False, "2.9.1")
    message = str(refused.value)
    assert message.startswith("the torch backend cannot train here: 4 processes asked for, 2 GPUs visible")
    assert "torch 2.9.1 has no kernels for GPU 1: compute capability 6.0" in message
    assert "train.amp: bf16 needs Ampere (8.0) or later, not GPU 0 (7.0), GPU 1 (6.0): use train.amp: O1" in message
    assert "several processes need NCCL" in message
