#!/usr/bin/env bash
# What building the guests needs, from the project's own files: the
# wasm32-wasip2 target, and from PyPI componentize-py (builds the Python
# example), moto's S3-compatible server (the S3 tests), and
# openapi-spec-validator and schemathesis (the tests of the API's OpenAPI
# description), and from Debian Chromium and chromedriver (the console's
# journeys in a real browser). Run by scripts/test.sh and scripts/bench.sh.
set -euo pipefail
rustup target add wasm32-wasip2
python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' 'componentize-py>=0.25.1,<0.26' \
  'openapi-spec-validator>=0.7,<1' 'schemathesis>=4.3,<5'
if ! command -v chromedriver > /dev/null || ! command -v chromium > /dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium chromium-driver \
    || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }
fi
