#!/usr/bin/env python3
"""Shares of the HTTP path's stages in a `perf record -g` profile.

Reads `perf script` output on standard input and gives each sample to
the stage of its innermost frame that names one (leaf first), so a memcpy
called while encoding a response counts for the response. Samples whose
frames name no stage are "other". Prints each stage's share of the
process's samples, largest first, then the kernel's share split by the
stage whose call led into it and by system call (a response's `writev`
carries the loopback's delivery to the client and its wake-up, and its
caller is the async runtime's socket, not the response's stage), then
each thread's share (the SQLite connections' and the epoch ticker's
threads apart from the tokio workers).

    perf record -F 2000 -g -p <server pid> -o perf.data -- sleep 5
    perf script -i perf.data | python3 scripts/perf-stages.py

The stages are issue 19's: accept and parse, middleware, routing, gate,
instance, guest, body plumbing, records and metrics, response; plus the
database's (SQLite and sqlx: under load, the records' writes), the
kernel's share (system calls, network) and the async runtime's.
"""

import re
import sys
from collections import Counter

# (stage, pattern on a frame's symbol); the first stage whose pattern
# matches the innermost frame that matches any decides.
STAGES = [
    ("guest (wasm code)", r"^\[unknown\]$|wasm\[|<wasm function"),
    ("records and metrics", r"minicloud_controlplane::records|::metrics|metrics::|RecordWriter|histogram|counter"),
    ("database (SQLite, sqlx)", r"^sqlite3|sqlx_core|sqlx_sqlite|sqlx_postgres|walChecksum|doWalCallbacks"),
    ("gate (limits, quotas)", r"minicloud_controlplane::gate|Gate::|Tenants|governor|RateLimit"),
    (
        "instance (store, instantiate, drop)",
        r"instantiate|InstancePre|ProxyPre|Store<|StoreOpaque|StoreInner|wasmtime::runtime::store|"
        r"wasmtime::runtime::vm::instance|pooling|InstanceAllocator|mmap|madvise|ResourceTable|WasiCtx|WasiHttpCtx",
    ),
    (
        "host calls and body plumbing (wasi:http streams)",
        r"wasmtime_wasi_http|wasmtime_wasi|wasi::|HostOutgoingBody|HostIncomingBody|http_body|BodyExt|Collected|Limited",
    ),
    ("invocation (platform around the guest)", r"minicloud_runtime|minicloud_controlplane::registry|minicloud_controlplane::services"),
    ("routing", r"matchit|axum::routing|Router<|route_table|MethodRouter|minicloud_controlplane::http::gateway"),
    ("middleware", r"tower_http|tower::|minicloud_controlplane::http::(state|mod)|request_id|Trace|from_fn|axum::middleware"),
    ("accept and parse (HTTP/1.1)", r"hyper::proto::h1::(role|io|decode)|httparse|hyper::server|hyper_util::server|accept"),
    ("response (encode, write)", r"hyper::proto::h1::(encode|dispatch|conn)|hyper::body|write_buf|Encoder"),
    ("kernel", r"\[kernel\.kallsyms\]|^entry_SYSCALL|^do_syscall|^__x64_sys|^tcp_|^ip_|^__sys_|^sock_|^ep_poll"),
    ("async runtime", r"^tokio::|tokio::runtime|parking_lot|futures_util"),
    ("allocator", r"malloc|free|realloc|__libc_(malloc|free|calloc|realloc|memalign)|_int_malloc|_int_free|cfree|unlink_chunk|tcache"),
]
COMPILED = [(name, re.compile(p)) for name, p in STAGES]


def samples(lines):
    """Each sample's thread name and frames, innermost first: (symbol,
    module) pairs."""
    frames = []
    thread = "?"
    for line in lines:
        if not line.strip():
            if frames:
                yield thread, frames
            frames = []
            continue
        if line[0] not in " \t":
            thread = line.split(None, 1)[0]  # the sample's header line
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        rest = parts[1]
        module = rest[rest.rfind("(") + 1 : -1] if rest.endswith(")") else ""
        symbol = rest[: rest.rfind("(")].strip() if "(" in rest else rest
        symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
        frames.append((symbol, module))
    if frames:
        yield thread, frames


SYSCALL = re.compile(r"^__(?:x64|se|do)_sys_(\w+)")
LIBC_PREFIX = re.compile(r"^(?:__GI___|__libc_|__GI_|__)")


def kernel_entry(frames):
    """What took a kernel sample's thread into the kernel: the system call
    (named by the kernel's frame, or by the C library's wrapper when the
    kernel inlined it), a page fault or an interrupt."""
    kernel = [s for s, m in frames if "kallsyms" in m]
    for symbol in kernel:
        found = SYSCALL.match(symbol)
        if found:
            return found.group(1)
    if any("page_fault" in s for s in kernel):
        return "page faults"
    # An interrupt's entry is the outermost kernel frame (a lock's
    # `_irqrestore` inside a system call is not one).
    if kernel and kernel[-1].startswith(("asm_sysvec", "asm_common_interrupt")):
        return "interrupts"
    user = next((s for s, m in frames if "kallsyms" not in m), None)
    if not user:
        return "kernel alone"
    # glibc's `recv` and `send` are the `recvfrom` and `sendto` calls;
    # rustix calls the kernel itself, from a function named for the call.
    call = LIBC_PREFIX.sub("", user)
    if "rustix::" in call:
        call = call.rsplit("::", 1)[-1].lstrip("_")
    return {"recv": "recvfrom", "send": "sendto"}.get(call, call)


def stage_of(frames):
    for symbol, module in frames:
        text = symbol if "kallsyms" not in module else f"[kernel.kallsyms] {symbol}"
        for name, pattern in COMPILED:
            if pattern.search(text):
                return name
    return "other"


def main():
    counts = Counter()
    kernel_for = Counter()
    kernel_by_call = Counter()
    threads = Counter()
    total = 0
    for thread, frames in samples(sys.stdin):
        stage = stage_of(frames)
        counts[stage] += 1
        threads[thread] += 1
        if stage == "kernel":
            user = [f for f in frames if "kallsyms" not in f[1]]
            kernel_for[stage_of(user) if user else "kernel alone"] += 1
            kernel_by_call[kernel_entry(frames)] += 1
        total += 1
    if not total:
        sys.exit("no samples on standard input (perf script output expected)")
    print(f"{total} samples")
    for name, n in counts.most_common():
        print(f"  {name:48} {100 * n / total:5.1f} %")
    print("the kernel's share, by the stage that called it:")
    for name, n in kernel_for.most_common():
        print(f"  {name:48} {100 * n / total:5.1f} %")
    print("the kernel's share, by system call (or fault, interrupt), largest ten:")
    for name, n in kernel_by_call.most_common(10):
        print(f"  {name[:48]:48} {100 * n / total:5.1f} %")
    print("by thread:")
    for name, n in threads.most_common():
        print(f"  {name[:48]:48} {100 * n / total:5.1f} %")


if __name__ == "__main__":
    main()
