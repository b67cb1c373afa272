#!/usr/bin/env bash
# A/B of two server binaries on the HTTP path (issue 19, part 1):
# `scripts/ab-fn.sh A B [rounds]` starts each binary in turn on core 0 with
# the hello component at /fn/default/hello/, loads it from core 1 with the
# bench's load generator (`platform load`, 32 keep-alive connections) and
# prints requests/s, latency and the server's CPU per request; the
# binaries alternate (A B A B ...) so that the machine's drift falls on
# both. HELLO_WASM and HELLO_QUERY choose another component and deploy
# query (scripts/hello-server.sh), e.g. the WASI 0.3 hello with reuse:
# `HELLO_WASM=target/guests/wasm32-wasip2/release/hello_p3.wasm
# HELLO_QUERY='?reuse=128,16,60000' scripts/ab-fn.sh A B`. WARMUP=1
# first loads each server once unmeasured (the SQLite connections open,
# the WAL and the records' batches reach their steady size): the
# measured load is then the second. Needs the
# release bench built (`cargo bench -p minicloud-tests --bench platform
# --no-run`) and the guests (target/guests).
set -euo pipefail
cd "$(dirname "$0")/.."
a=${1:?usage: scripts/ab-fn.sh <binary A> <binary B> [rounds]}
b=${2:?usage: scripts/ab-fn.sh <binary A> <binary B> [rounds]}
rounds=${3:-3}
bench=$(ls -t target/release/deps/platform-* | grep -v '\.d$' | head -1)
. scripts/hello-server.sh
one() {
  local bin=$1 work port
  work=$(mktemp -d)
  port=$((18400 + RANDOM % 1000))
  hello_server "$bin" "$work" "$port"
  if [ "${WARMUP:-0}" = 1 ]; then
    taskset -c 1 "$bench" load "127.0.0.1:$port" /fn/default/hello/ "$server" > /dev/null
  fi
  echo "$bin: $(taskset -c 1 "$bench" load "127.0.0.1:$port" /fn/default/hello/ "$server")"
  kill "$server"
  wait "$server" 2> /dev/null || true
  rm -rf "$work"
}
for _ in $(seq "$rounds"); do
  one "$a"
  one "$b"
done
