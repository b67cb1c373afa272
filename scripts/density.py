#!/usr/bin/env python3
"""Density benchmark (issue 19, part 4): many functions on one node.

Starts `minicloud serve` (the binary given) on a fresh data directory and
prints, as figures against the idle server measured in the same run:

- deploys: N functions of the same component and D of distinct ones (the
  hello component with a custom section of its own), the time of each PUT;
- memory: the server's resident set idle, after the deploys, and after one
  call of every function (all loaded), and per loaded function;
- a restart: time to ready, resident set after its bounded preload, and the
  first call of functions the preload did not load;
- with `--faults`: `--in-flight` invocations at once (each sleeping in its
  guest), the peak resident set while they run.

Standard library only. Used by scripts/bench.sh with the release binary;
`--functions` and `--distinct` make it shorter or longer.
"""

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def leb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def with_custom_section(component, tag):
    """The component with a custom section naming `tag`: other bytes, the
    same code (a new SHA-256, so a new compilation)."""
    name = b"minicloud-density"
    payload = leb(len(name)) + name + tag.encode()
    return component + b"\x00" + leb(len(payload)) + payload


class Server:
    def __init__(self, binary, port, data, pool):
        self.binary, self.port, self.data, self.pool = binary, port, data, pool
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.update(
            {
                "MINICLOUD_DATA_DIR": self.data,
                "MINICLOUD_LISTEN": f"127.0.0.1:{self.port}",
                "MINICLOUD_PROJECT_QUOTA": "functions=100000,rps=10000000,concurrency=100000,memory_mib=100000000",
                "MINICLOUD_ORG_QUOTA": "functions=100000,rps=10000000,concurrency=100000,memory_mib=100000000",
                "MINICLOUD_POOL_INSTANCES": str(self.pool),
                "MINICLOUD_RATE_LIMIT_RPS": "1000000",
                "MINICLOUD_RATE_LIMIT_BURST": "1000000",
                "RUST_LOG": "warn",
            }
        )
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.data, "..", "server.log"), "a")
        )
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit("the server exited; see server.log")
            time.sleep(0.01)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, round((len(s) - 1) * q))]


# Functions a restart loads ahead of their calls (`WARM_FUNCTIONS` in
# controlplane/src/app/serve.rs).
PRELOADED = 256


def timed(c, method, path, body=None, headers=None, ok=(200,)):
    """One request on connection `c`: its time; stops the run unless it
    answers one of `ok` (a refusal timed as a call would be a wrong figure)."""
    t = time.monotonic()
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    r.read()
    if r.status not in ok:
        sys.exit(f"{method} {path}: {r.status}")
    return time.monotonic() - t


def deploy(c, token, name, body, query=""):
    """Deploys `body` as function `name`: the PUT's time."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/wasm"}
    path = f"/api/v1/projects/default/functions/{name}{query}"
    return timed(c, "PUT", path, body, headers, ok=(200, 201))


def in_flight(server, token, args):
    """`args.in_flight` calls of a guest that sleeps 3 s, all at once: the
    peak resident set while they run, how many answered 200, how long."""
    body = open(args.faults, "rb").read()
    deploy(server.conn(), token, "slow", body, f"?concurrency={args.in_flight}&memory_mib=16")
    ok = []
    peak = [0]
    done = threading.Event()

    def call():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            conn.request("GET", "/fn/default/slow/slow?ms=3000")
            resp = conn.getresponse()
            resp.read()
            ok.append(resp.status == 200)
        except OSError:
            ok.append(False)

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(server.proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    callers = [threading.Thread(target=call) for _ in range(args.in_flight)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    took = time.monotonic() - started
    done.set()
    sampler.join()
    return peak[0], sum(ok), took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--hello", required=True, help="the hello component (.wasm)")
    ap.add_argument("--functions", type=int, default=10000)
    ap.add_argument("--distinct", type=int, default=100)
    ap.add_argument("--port", type=int, default=18282)
    ap.add_argument("--faults", help="the faults component (.wasm), for the in-flight phase")
    ap.add_argument("--in-flight", type=int, default=1000)
    args = ap.parse_args()
    hello = open(args.hello, "rb").read()
    root = tempfile.mkdtemp(prefix="minicloud-density-")
    data = os.path.join(root, "data")
    os.mkdir(data)
    server = Server(args.bin, args.port, data, max(512, args.in_flight + 16))
    try:
        server.start()
        token = open(os.path.join(data, "admin-token")).read().strip()
        time.sleep(1)
        idle = rss_kib(server.proc.pid)
        c = server.conn()
        names = []
        same, distinct = [], []
        total = args.functions + args.distinct
        for i in range(total):
            body = hello if i < args.functions else with_custom_section(hello, f"d{i}")
            name = f"f{i}"
            (same if i < args.functions else distinct).append(deploy(c, token, name, body))
            names.append(name)
        deployed = rss_kib(server.proc.pid)
        first_calls = [timed(c, "GET", f"/fn/default/{name}/") for name in names]
        loaded = rss_kib(server.proc.pid)
        server.stop()

        ready = server.start()
        time.sleep(2)
        after_restart = rss_kib(server.proc.pid)
        c = server.conn()
        # The preload loads the most recently called functions (256): the
        # ones called first above are the last it would reach.
        cold_names = names[: min(200, max(0, total - PRELOADED))]
        cold = [timed(c, "GET", f"/fn/default/{name}/") for name in cold_names]
        flight = in_flight(server, token, args) if args.faults else None
        server.stop()

        print(f"density: {args.functions} functions of one component, {args.distinct} of distinct ones")
        print(
            f"  deploy PUT, same bytes: p50 {ms(percentile(same, 0.5))}, p99 {ms(percentile(same, 0.99))}; "
            f"distinct bytes (compiled): p50 {ms(percentile(distinct, 0.5)) if distinct else '-'}"
        )
        print(
            f"  resident set: idle {idle / 1024:.1f} MiB, after the deploys {deployed / 1024:.1f} MiB, "
            f"every function loaded {loaded / 1024:.1f} MiB"
        )
        print(f"  per loaded function: {(loaded - idle) / total:.1f} KiB")
        print(
            f"  first call of each (loads it): p50 {ms(percentile(first_calls, 0.5))}, "
            f"p99 {ms(percentile(first_calls, 0.99))}"
        )
        print(
            f"  restart with {total} functions: ready in {ms(ready)}, resident set after its preload "
            f"{after_restart / 1024:.1f} MiB"
        )
        if cold:
            print(
                f"  first call of a function not preloaded ({len(cold)} of them): p50 {ms(percentile(cold, 0.5))}, "
                f"p99 {ms(percentile(cold, 0.99))}, mean {ms(statistics.mean(cold))}"
            )
        else:
            print(f"  first call of a function not preloaded: none (all {total} fit the preload of {PRELOADED})")
        if flight:
            peak, answered, took = flight
            print(
                f"  {args.in_flight} invocations in flight (each sleeping 3 s in its guest): peak resident set "
                f"{peak / 1024:.1f} MiB, {answered} answered 200, all within {took:.1f} s"
            )
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
