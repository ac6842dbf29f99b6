"""The libpaddle zlib clash: a zlib user loaded after Paddle crashes unless ernie_pipeline came first."""

import subprocess
import sys

import pytest

PROBE = """
import sys
if sys.argv[1] == "with-fix":
    import ernie_pipeline
import paddle
import io, numpy as np, scipy.io
buffer = io.BytesIO()
scipy.io.savemat(buffer, {"a": np.arange(100000)}, do_compression=True)
buffer.seek(0)
print(int(scipy.io.loadmat(buffer)["a"].sum()))
"""


def _probe(mode):
    return subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_zlib_users_work_after_paddle_when_package_imported_first():
    result = _probe("with-fix")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(sum(range(100000)))


@pytest.mark.slow
def test_the_clash_is_real_without_the_fix():
    # Guards the test above against passing vacuously: without the preload, the same code fails.
    result = _probe("without-fix")
    assert result.returncode != 0 or result.stdout.strip().splitlines()[-1:] != [str(sum(range(100000)))]
