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

from hive_server import DEFAULT_HIVE, create_agents, memory, serving


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--hive", default=DEFAULT_HIVE)
    opts = args.parse_args()

    with serving(opts.hive) as base:
        empty = memory(base, 0)
        create_agents(base, 10_000, "idle")
        ten = memory(base, 10_000)
        create_agents(base, 90_000, "idle")
        hundred = memory(base, 100_000)
    print(json.dumps({
        "heap_bytes_per_agent_10000": (ten["heap"] - empty["heap"]) / 10_000,
        "heap_bytes_per_agent_100000": (hundred["heap"] - empty["heap"]) / 100_000,
        "rss_bytes_per_agent_100000": (hundred["rss"] - empty["rss"]) / 100_000,
    }))


if __name__ == "__main__":
    main()
