#!/usr/bin/env bash
# Installs `wasmtime` 48 with the features `wasmtime serve` needs, the
# baseline of the benchmark's HTTP ratios (about 15 minutes on two cores,
# against about 45 for every feature). Does nothing when it is installed.
# Run by scripts/bench.sh.
set -euo pipefail
command -v wasmtime > /dev/null && exit 0
exec cargo install wasmtime-cli --version '^48' --locked --no-default-features \
  --features serve,run,cranelift,pooling-allocator,parallel-compilation,component-model,component-model-async,wasi-http,logging
