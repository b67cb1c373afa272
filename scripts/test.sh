#!/usr/bin/env bash
# The test command: installs the guest target and moto's S3 server, builds
# the binary and every guest, and runs the whole suite (unit tests, and
# end-to-end tests against SQLite and the PostgreSQL server on
# 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
# The S3 tests run against moto's S3-compatible server, from PyPI.
python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
# The end-to-end tests start the real binary: build it first, always.
cargo build --workspace --bins
cargo test --workspace
