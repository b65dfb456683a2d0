#!/usr/bin/env python3
"""What an idle agent costs the server: everything Hive keeps for it (actor, mailbox, supervisor
bookkeeping, registry entry, the orchestrator's record of it), at 10,000 and 100,000 agents.

    benches/agent_memory.py [--hive PATH]

Starts `hive serve` (release binary, temporary data directory), reads the allocator's figures
from /api/v1/system/status, creates 10,000 agents through the batch API, reads again, creates
90,000 more and reads a third time. The heap an agent costs is the growth of jemalloc's
allocated bytes, less the growth of SQLite's page caches (bounded per connection, not per agent),
divided by the agents added. Prints one JSON object: {"heap_bytes_per_agent_10000",
"heap_bytes_per_agent_100000", "rss_bytes_per_agent_100000"}.
"""

import argparse
import json
import os
import subprocess
import tempfile

from dashboard_load import ROOT, call, free_port, wait

BATCH = 10_000


def memory(base, agents):
    """The server's memory once `agents` agents are idle, from a sample taken after that: the
    status page shows the monitor's latest sample, so two new samples are waited for."""
    wait(f"{agents} idle agents",
         lambda: call(base, "GET", "/api/v1/system/status")["agents"]["idle"] == agents)
    reading = lambda: call(base, "GET", "/api/v1/system/status")["memory"]
    seen = reading()
    for _ in range(2):
        seen = wait("a new sample", lambda: (lambda now: now if now != seen else None)(reading()))
    return {"heap": seen["allocator"]["allocated_bytes"] - seen["sqlite_heap_bytes"],
            "rss": seen["rss_bytes"]}


def create(base, count):
    while count:
        step = min(count, BATCH)
        call(base, "POST", "/api/v1/agents/batch", {"count": step, "template": {"role": "idle"}})
        count -= step


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--hive", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "hive"))
    opts = args.parse_args()

    data = tempfile.TemporaryDirectory()
    port = free_port()
    server = subprocess.Popen([opts.hive, "serve", "--addr", f"127.0.0.1:{port}", "--rate-limit", "0",
                               "--data-dir", data.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait("the server", lambda: call(base, "GET", "/readyz")["status"] == "ready")
        empty = memory(base, 0)
        create(base, 10_000)
        ten = memory(base, 10_000)
        create(base, 90_000)
        hundred = memory(base, 100_000)
        print(json.dumps({
            "heap_bytes_per_agent_10000": (ten["heap"] - empty["heap"]) / 10_000,
            "heap_bytes_per_agent_100000": (hundred["heap"] - empty["heap"]) / 100_000,
            "rss_bytes_per_agent_100000": (hundred["rss"] - empty["rss"]) / 100_000,
        }))
    finally:
        server.kill()
        server.wait()
        data.cleanup()


if __name__ == "__main__":
    main()
