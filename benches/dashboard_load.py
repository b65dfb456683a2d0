#!/usr/bin/env python3
"""How long the dashboard takes to show the supervision tree of a server with many agents.

    benches/dashboard_load.py [--agents N] [--runs R] [--hive PATH]

Starts `hive serve` (release binary, temporary data directory), creates N agents (10,000 by
default) through the batch API, then opens /dashboard in headless Chromium through chromedriver
R times and measures, in the page, the time from navigation start until the pool is drawn in the
tree with its count. Prints one JSON object: {"agents", "runs", "load_ms": {"p50", "max"}}.
Needs Debian's chromium and chromium-driver.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOWN = """
const s = document.querySelector('[data-supervisor="pool:worker"] > summary');
return s && s.textContent.includes(arguments[0] + ' running') ? performance.now() : null;
"""


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


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--agents", type=int, default=10_000)
    args.add_argument("--runs", type=int, default=5)
    args.add_argument("--hive", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "hive"))
    opts = args.parse_args()

    data = tempfile.TemporaryDirectory()
    port = free_port()
    server = subprocess.Popen([opts.hive, "serve", "--addr", f"127.0.0.1:{port}", "--rate-limit", "0",
                               "--data-dir", data.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver_port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait("the server", lambda: call(base, "GET", "/readyz")["status"] == "ready")
        left = opts.agents
        while left:
            count = min(left, 10_000)
            call(base, "POST", "/api/v1/agents/batch", {"count": count, "template": {"role": "worker"}})
            left -= count
        wd = f"http://127.0.0.1:{driver_port}"
        wait("chromedriver", lambda: call(wd, "GET", "/status")["value"]["ready"])
        session = call(wd, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}}}})
        sid = session["value"]["sessionId"]
        times = []
        for _ in range(opts.runs):
            call(wd, "POST", f"/session/{sid}/url", {"url": "about:blank"})
            call(wd, "POST", f"/session/{sid}/url", {"url": base + "/dashboard"})
            shown = wait("the tree", lambda: call(wd, "POST", f"/session/{sid}/execute/sync",
                                                   {"script": SHOWN, "args": [opts.agents]})["value"])
            times.append(shown)
        call(wd, "DELETE", f"/session/{sid}")
        times.sort()
        print(json.dumps({"agents": opts.agents, "runs": opts.runs,
                          "load_ms": {"p50": times[len(times) // 2], "max": times[-1]}}))
    finally:
        driver.kill()
        server.kill()
        server.wait()
        data.cleanup()


if __name__ == "__main__":
    main()
