"""A `hive serve` of the benchmarks' own: started on a free loopback port with a temporary data
directory, ready once /readyz says so, killed and cleaned up on leaving. Shared by the Python
benchmarks that measure one server from outside its process."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_HIVE = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "hive")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else None


def wait(what, probe, seconds=60):
    """The first true value `probe` returns, trying every 50 ms; exits if none comes in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"{what} did not happen within {seconds} s")


@contextlib.contextmanager
def serving(hive, flags=()):
    """Run `hive serve` (rate limit off, with `flags`) and yield its base URL once it is ready."""
    data = tempfile.TemporaryDirectory()
    port = free_port()
    server = subprocess.Popen([hive, "serve", "--addr", f"127.0.0.1:{port}", "--rate-limit", "0",
                               "--data-dir", data.name, *flags],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait("the server", lambda: call(base, "GET", "/readyz")["status"] == "ready")
        yield base
    finally:
        server.kill()
        server.wait()
        data.cleanup()


def create_agents(base, count, role):
    """Create `count` agents of `role` through the batch API, at most 10,000 a request."""
    while count:
        step = min(count, 10_000)
        call(base, "POST", "/api/v1/agents/batch", {"count": step, "template": {"role": role}})
        count -= step


def memory(base, agents):
    """The server's heap (jemalloc's allocated bytes less SQLite's own heap, which is bounded per
    connection, not per agent) and RSS once `agents` agents are idle, from a sample taken after
    that: the status page shows the monitor's latest sample, so two new samples are waited for."""
    status = lambda: call(base, "GET", "/api/v1/system/status")
    wait(f"{agents} idle agents", lambda: status()["agents"]["idle"] == agents)
    seen = status()["memory"]
    for _ in range(2):
        old = seen
        seen = wait("a new sample", lambda: (now := status()["memory"]) != old and now)
    return {"heap": seen["allocator"]["allocated_bytes"] - seen["sqlite_heap_bytes"],
            "rss": seen["rss_bytes"]}
