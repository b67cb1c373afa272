#!/usr/bin/env bash
# Profiles the HTTP path of a function (issue 19, part 1): the release
# server pinned to core 0 serving the hello component at /fn/default/hello/,
# the bench's load generator on core 1, `perf record` (DWARF call graphs)
# on the server while the load runs, and the samples' shares by stage
# (scripts/perf-stages.py). Needs `perf`; builds what it runs.
# PERF_DATA=<path> keeps the recording there (for `perf script -i`).
# WASMTIME_SERVE=1 profiles `wasmtime serve` (scripts/wasmtime.sh) running
# the same component (HELLO_WASM) at `/` instead, for a side-by-side.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p minicloud-controlplane --bin minicloud
cargo bench -p minicloud-tests --bench platform --no-run
bench=$(ls -t target/release/deps/platform-* | grep -v '\.d$' | head -1)
work=$(mktemp -d)
port=${PORT:-18383}
server=
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
path=/fn/default/hello/
if [ -n "${WASMTIME_SERVE:-}" ]; then
  taskset -c 0 wasmtime serve -O pooling-allocator=y -S cli=y --addr "127.0.0.1:$port" \
    "${HELLO_WASM:-target/guests/wasm32-wasip2/release/hello.wasm}" > /dev/null 2>&1 &
  server=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.1; done
  path=/
else
  . scripts/hello-server.sh
  hello_server target/release/minicloud "$work" "$port"
fi
echo "without the profiler: $(taskset -c 1 "$bench" load "127.0.0.1:$port" "$path" "$server")"
taskset -c 1 "$bench" load "127.0.0.1:$port" "$path" "$server" > "$work/load.txt" &
load=$!
sleep 0.5
perf record -q -F 999 --call-graph dwarf,16384 -p "$server" -o "$work/perf.data" -- sleep 4 2> /dev/null
wait "$load"
echo "under the profiler: $(cat "$work/load.txt")"
if [ -n "${PERF_DATA:-}" ]; then cp "$work/perf.data" "$PERF_DATA"; fi
perf script -i "$work/perf.data" 2> /dev/null | python3 scripts/perf-stages.py
