#!/usr/bin/env bash
# What building the guests needs, from the project's own files: the
# wasm32-wasip2 target, and from PyPI componentize-py (builds the Python
# example) and moto's S3-compatible server (the S3 tests). Run by
# scripts/test.sh and scripts/bench.sh.
set -euo pipefail
rustup target add wasm32-wasip2
python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' componentize-py
