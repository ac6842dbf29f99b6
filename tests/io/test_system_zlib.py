"""The libpaddle zlib clash (Paddle 2.6): a zlib user loaded after Paddle crashed unless ernie_pipeline came first."""

import subprocess
import sys
from pathlib import Path

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
def test_the_pinned_paddle_exports_no_zlib_of_its_own():
    """Paddle 2.6's libpaddle.so exported an old zlib's symbols (inflateReset2, ...) and a zlib user loaded after it
    crashed without the preload; 3.3.1's exports none, and the same code works either way. The preload stays for
    Paddle builds that do (2.6, GPU builds not checked here)."""
    import paddle

    library = Path(paddle.__file__).parent / "base" / "libpaddle.so"
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True)
    assert symbols.stdout.count(" T ") > 1000  # the library's own functions are listed
    assert not [line for line in symbols.stdout.splitlines() if line.split()[-1].startswith(("inflate", "deflate"))]
    result = _probe("without-fix")
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1] == str(sum(range(100000)))
