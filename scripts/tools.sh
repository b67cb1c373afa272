#!/usr/bin/env bash
# What building the guests needs, from the project's own files: the
# wasm32-wasip2 target, and from PyPI componentize-py (builds the Python
# example), moto's S3-compatible server (the S3 tests), and
# openapi-spec-validator and schemathesis (the tests of the API's OpenAPI
# description). Run by scripts/test.sh and scripts/bench.sh.
set -euo pipefail
rustup target add wasm32-wasip2
python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' componentize-py \
  'openapi-spec-validator>=0.7,<1' 'schemathesis>=4.3,<5'
