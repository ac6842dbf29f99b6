#!/usr/bin/env bash
# Runs inside the freshly created conda env (ernie-cpu, and ernie-gpu through its link to this file): LAC's sdist
# imports pkg_resources in setup.py, so it is built without isolation against the pinned setuptools (<70)
# already in the env.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation lac==2.1.2
