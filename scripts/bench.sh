#!/usr/bin/env bash
# The benchmark command: builds the release binary and the guests, then runs
# the platform benchmark with the load generator on core 1 (servers are
# pinned to core 0 by the benchmark itself). Figures go to stdout; record
# them in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
scripts/wasmtime.sh
cargo build --release -p minicloud-controlplane --bin minicloud
# A longer fuzzing pass than the test command's (README, "Security and
# fuzzing"); its failures stop the benchmark.
PROPTEST_CASES=20000 cargo test --release -p minicloud-policy -p minicloud-controlplane fuzz
MINICLOUD_FUZZ_CASES=100 MINICLOUD_BIN="$PWD/target/release/minicloud" \
  cargo test --release -p minicloud-tests --test e2e hostile::matrix::no_body
# schemathesis on every operation of the API's description, with more
# examples and a new seed each time (the test command's run is bounded).
MINICLOUD_SCHEMATHESIS_EXAMPLES=200 MINICLOUD_SCHEMATHESIS_SEED=random \
  MINICLOUD_BIN="$PWD/target/release/minicloud" \
  cargo test --release -p minicloud-tests --test e2e openapi::schemathesis
# The console's first paint in headless Chromium, page by page.
MINICLOUD_BIN="$PWD/target/release/minicloud" \
  cargo test --release -p minicloud-tests --test e2e console_browser -- --nocapture
# Footprint: the release binary as built (line tables for profiles) and
# stripped as the image ships it (Dockerfile), with its symbols apart.
footprint=$(mktemp -d)
objcopy --only-keep-debug target/release/minicloud "$footprint/minicloud.debug"
objcopy --strip-all target/release/minicloud "$footprint/minicloud"
echo "footprint: release binary $(stat -c %s target/release/minicloud) bytes; stripped $(stat -c %s "$footprint/minicloud") bytes; symbols apart $(stat -c %s "$footprint/minicloud.debug") bytes"
rm -rf "$footprint"
# Density: 10,000 functions of one component and 100 distinct ones on one
# node (memory per loaded function, a restart, first calls not preloaded),
# and 1,000 invocations in flight at once.
python3 scripts/density.py --bin "$PWD/target/release/minicloud" \
  --hello "$PWD/target/guests/wasm32-wasip2/release/hello.wasm" \
  --faults "$PWD/target/guests/wasm32-wasip2/release/faults.wasm" --in-flight 1000
cargo bench -p minicloud-tests --bench platform --no-run
exec taskset -c 1 cargo bench -p minicloud-tests --bench platform
