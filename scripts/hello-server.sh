# Sourced by scripts/profile-fn.sh and scripts/ab-fn.sh: `hello_server BIN
# WORK PORT` starts server binary BIN on core 0 (data in WORK, limits out
# of the way of a load test), waits until it is ready and deploys the
# hello component at /fn/default/hello/; the server's pid is in $server.
# HELLO_WASM names another component to deploy there (a path), and
# HELLO_QUERY the deploy's query (`?reuse=128,16,60000`), and SERVER_LOG
# the server's `RUST_LOG` (`warn` unless set; the server's own default is
# `info`; `info,minicloud::request=debug` adds every request's span).
hello_server() {
  local bin=$1 work=$2 port=$3
  MINICLOUD_DATA_DIR="$work/data" MINICLOUD_LISTEN="127.0.0.1:$port" \
    MINICLOUD_RATE_LIMIT_RPS=10000000 MINICLOUD_RATE_LIMIT_BURST=10000000 \
    MINICLOUD_PROJECT_QUOTA=rps=10000000 MINICLOUD_ORG_QUOTA=rps=10000000 RUST_LOG=${SERVER_LOG:-warn} \
    taskset -c 0 "$bin" serve > "$work/server.log" 2>&1 &
  server=$!
  until curl -sf "http://127.0.0.1:$port/readyz" > /dev/null; do sleep 0.1; done
  curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $(cat "$work/data/admin-token")" \
    -H "content-type: application/wasm" \
    --data-binary "@${HELLO_WASM:-target/guests/wasm32-wasip2/release/hello.wasm}" \
    "http://127.0.0.1:$port/api/v1/projects/default/functions/hello${HELLO_QUERY:-}"
}
