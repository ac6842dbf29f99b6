#!/usr/bin/env bash
# Runs inside the freshly created conda env (Snakemake activates it first).
set -euo pipefail

# 1. paddlepaddle-gpu 2.6.2 opens CUDA's libraries at run time by their unversioned names (libcudart.so,
#    libcublas.so, libcudnn.so, libnccl.so) from LD_LIBRARY_PATH; the nvidia-*-cu11 wheels of this env ship
#    only versioned files (libcudnn.so.8, ...). Link them under the unversioned names in one folder and put it,
#    with the wheels' own folders (cuDNN opens its sub-libraries by name), on LD_LIBRARY_PATH at activation.
prefix=$(python -c 'import sys; print(sys.prefix)')
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
links="$prefix/lib/ernie-cuda"
mkdir -p "$links" "$prefix/etc/conda/activate.d" "$prefix/etc/conda/deactivate.d"
path="$links"
for lib in "$site"/nvidia/*/lib; do
  [ -d "$lib" ] || continue
  path="$path:$lib"
  for file in "$lib"/lib*.so.*; do
    [ -e "$file" ] || continue
    name=$(basename "$file")
    ln -sfn "$file" "$links/${name%%.so.*}.so"
  done
done
cat > "$prefix/etc/conda/activate.d/ernie-cuda.sh" <<ACTIVATE
export ERNIE_SAVED_LD_LIBRARY_PATH="\${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$path\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ACTIVATE
cat > "$prefix/etc/conda/deactivate.d/ernie-cuda.sh" <<'DEACTIVATE'
export LD_LIBRARY_PATH="${ERNIE_SAVED_LD_LIBRARY_PATH:-}"
unset ERNIE_SAVED_LD_LIBRARY_PATH
DEACTIVATE

# 2. LAC's sdist imports pkg_resources in setup.py: built without isolation against the pinned
#    setuptools (<70) already in the env. (PIP: the pip to use; the tests run step 1 alone with PIP=true.)
${PIP:-python -m pip} install --no-deps --no-build-isolation lac==2.1.2
