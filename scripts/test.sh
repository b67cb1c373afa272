#!/usr/bin/env bash
# The test command: installs the guest tools (scripts/tools.sh), builds
# the binary and every guest, and runs the whole suite (unit tests, and
# end-to-end tests against SQLite and the PostgreSQL server on
# 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
# The end-to-end tests start the real binary: build it first, always.
cargo build --workspace --bins
cargo test --workspace
# The SDK's crate docs: every example compiles for wasm32-wasip2. They are
# compile-only (`no_run`: guest code cannot run on the host), so the runner
# is never asked to run one; `true` stands in for it.
(cd sdk && CARGO_TARGET_WASM32_WASIP2_RUNNER=true \
  cargo test --doc --target wasm32-wasip2 --target-dir ../target/guests)
