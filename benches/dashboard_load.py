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
import subprocess

from hive_server import DEFAULT_HIVE, call, create_agents, free_port, serving, wait

SHOWN = """
const s = document.querySelector('[data-supervisor="pool:worker"] > summary');
return s && s.textContent.includes(arguments[0] + ' running') ? performance.now() : null;
"""


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--agents", type=int, default=10_000)
    args.add_argument("--runs", type=int, default=5)
    args.add_argument("--hive", default=DEFAULT_HIVE)
    opts = args.parse_args()

    driver_port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with serving(opts.hive) as base:
            measure(opts, base, driver_port)
    finally:
        driver.kill()


def measure(opts, base, driver_port):
    """Create the agents, then time R loads of the dashboard until the pool is drawn."""
    create_agents(base, opts.agents, "worker")
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


if __name__ == "__main__":
    main()
