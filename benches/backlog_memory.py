#!/usr/bin/env python3
"""What a full backlog costs, and what a restart with it costs.

    benches/backlog_memory.py [--hive PATH] [--clients N]

Starts `hive serve` (release binary, temporary data directory, default memory budget, so the
default `max_queued_tasks`), submits small tasks for a role no agent serves from N clients until
the server answers 503 for the backlog, reads the process's resident memory, then SIGKILLs it,
starts it again on the same data directory and reads its resident memory once it is ready (it
holds the whole backlog again). Prints one JSON object: {"limit", "accepted", "rss_idle_bytes",
"rss_full_bytes", "rss_after_restart_bytes", "budget_bytes"}.
"""

import argparse
import json
import os
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request

from hive_server import DEFAULT_HIVE, call, free_port, wait

BUDGET = 80_000_000


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def start(hive, data, port):
    server = subprocess.Popen([hive, "serve", "--addr", f"127.0.0.1:{port}", "--rate-limit", "0",
                               "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait("the server", lambda: call(base, "GET", "/readyz")["status"] == "ready", seconds=300)
    return server, base


def fill(base, clients):
    """Submit until the backlog refuses; answers how many were accepted."""
    accepted, full = [0], threading.Event()
    lock = threading.Lock()
    body = json.dumps({"role": "idle", "input": {"op": "echo", "value": "x"}}).encode()

    def client():
        while not full.is_set():
            request = urllib.request.Request(base + "/api/v1/tasks", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
                with lock:
                    accepted[0] += 1
            except urllib.error.HTTPError as e:
                if e.code == 503 and b"task backlog" in e.read():
                    full.set()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accepted[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hive", default=DEFAULT_HIVE)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    data = tempfile.TemporaryDirectory()
    port = free_port()
    server, base = start(args.hive, data.name, port)
    try:
        idle = rss(server.pid)
        accepted = fill(base, args.clients)
        status = call(base, "GET", "/api/v1/system/status")
        full = rss(server.pid)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    server, base = start(args.hive, data.name, port)
    try:
        queued = call(base, "GET", "/api/v1/system/status")["tasks"]["queued"]
        restarted = rss(server.pid)
    finally:
        server.kill()
        server.wait()
    print(json.dumps({
        "limit": BUDGET // 2 // 2048, "accepted": accepted, "queued_after_restart": queued,
        "rss_idle_bytes": idle, "rss_full_bytes": full, "rss_after_restart_bytes": restarted,
        "budget_bytes": BUDGET, "tasks_by_status": status["tasks"],
    }))


if __name__ == "__main__":
    main()
