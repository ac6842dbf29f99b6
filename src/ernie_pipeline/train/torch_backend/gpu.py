"""Can the torch backend train on this node's GPUs? Checked before any training process starts, in the Python that
trains (``train.python``): ``python -m ernie_pipeline.train.torch_backend.gpu`` reports the devices as JSON
(:func:`report`), and the launcher judges them (:func:`check_devices`), failing with what to do.

* **kernels**: a PyTorch build holds SASS for the compute capabilities ``torch.cuda.get_arch_list()`` names
  (``sm_80``, ``sm_90a`` ...) and PTX for the ``compute_XY`` ones. SASS for X.y runs on X.z (z >= y); PTX for X.y is
  compiled by the driver for any later device. A device with neither fails at its first kernel ("no kernel image is
  available for execution on the device");
* **bf16** (``train.amp: bf16``): Ampere (8.0) and later;
* **NCCL** for several processes.
"""

from __future__ import annotations

import json
import re

BF16_CAPABILITY = (8, 0)


def _arch(name: str) -> tuple[str, tuple[int, int]] | None:
    """('sm' or 'compute', (major, minor)) of an arch-list entry: sm_86, sm_90a, compute_90, sm_100, sm_120."""
    found = re.fullmatch(r"(sm|compute)_(\d+)(\d)[a-z]?", name)
    return (found.group(1), (int(found.group(2)), int(found.group(3)))) if found else None


def runs_on(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a build with ``arch_list`` has kernels for a device of ``capability``."""
    for kind, (major, minor) in filter(None, map(_arch, arch_list)):
        if kind == "sm" and major == capability[0] and minor <= capability[1]:
            return True
        if kind == "compute" and (major, minor) <= capability:
            return True
    return False


def check_devices(capabilities: dict[int, tuple[int, int]], arch_list: list[str], processes: int, amp: str | None,
                  nccl: bool, torch_version: str) -> None:
    """Raise, naming each device and what to install, where the node cannot train ``processes`` processes."""
    problems = []
    if len(capabilities) < processes:
        problems.append(f"{processes} processes asked for, {len(capabilities)} GPUs visible")
    without = [f"GPU {d}: compute capability {c[0]}.{c[1]}" for d, c in sorted(capabilities.items())
               if not runs_on(c, arch_list)]
    if without:
        problems.append(f"torch {torch_version} has no kernels for {', '.join(without)} (it holds {' '.join(arch_list)}):"
                        " install a PyTorch build for it (pip's CUDA 12.8 and later builds serve Volta to Blackwell)")
    if amp == "bf16":
        old = [f"GPU {d} ({c[0]}.{c[1]})" for d, c in sorted(capabilities.items()) if c < BF16_CAPABILITY]
        if old:
            problems.append(f"train.amp: bf16 needs Ampere (8.0) or later, not {', '.join(old)}: use train.amp: O1 "
                            "(float16 with a loss scaler) or null")
    if processes > 1 and not nccl:
        problems.append("several processes need NCCL, which this PyTorch build lacks")
    if problems:
        raise RuntimeError("the torch backend cannot train here: " + "; ".join(problems))


def report() -> dict:
    """This node's GPUs as the installed torch sees them (run in the Python that trains)."""
    import torch

    available = torch.cuda.is_available()
    devices = torch.cuda.device_count() if available else 0
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "available": available,
            "capabilities": {str(d): list(torch.cuda.get_device_capability(d)) for d in range(devices)},
            "names": [torch.cuda.get_device_name(d) for d in range(devices)],
            "arch_list": torch.cuda.get_arch_list() if available else [],
            "nccl": torch.distributed.is_available() and torch.distributed.is_nccl_available()}


def probe(python: str, env: dict | None = None) -> dict:
    """:func:`report` from ``python`` (train.python: the torch backend's processes may run in another environment
    than the workflow's), in a child process; a clear error where that Python has no torch."""
    import subprocess

    done = subprocess.run([python, "-m", "ernie_pipeline.train.torch_backend.gpu"], capture_output=True, text=True,
                          env=env)
    if done.returncode:
        raise RuntimeError(f"config train.python: {python} cannot report its GPUs through torch (exit "
                           f"{done.returncode}): {done.stderr.strip()[-1500:]}")
    found = json.loads(done.stdout)
    if not found["available"]:
        raise RuntimeError(f"config train.device: gpu, but torch {found['torch']} in {python} sees no GPU (a CPU "
                           "build, or no driver: check nvidia-smi and CUDA_VISIBLE_DEVICES)")
    return found


def check_report(found: dict, processes: int, amp: str | None) -> None:
    check_devices({int(d): tuple(c) for d, c in found["capabilities"].items()}, found["arch_list"], processes, amp,
                  found["nccl"], found["torch"])


if __name__ == "__main__":
    print(json.dumps(report()))
