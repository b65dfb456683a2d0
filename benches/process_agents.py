#!/usr/bin/env python3
"""Process agents, measured from outside the server: the round trip of a task addressed to one
process agent, the throughput of 100 of them, and what an idle one costs the server.

    benches/process_agents.py [--hive PATH] [--tasks N] [--clients N]

Starts `hive serve` (release binary, temporary data directory, /usr/bin/python3 allowed) and
runs `examples/worker.py` as the agents' program.

- Round trip: one agent; `--tasks` tasks `{"op":"pid"}` submitted one after another, each timed
  from the start of its POST to its `task.succeeded` on the event stream (the 202 waits for the
  commit; the program's answer is committed again before the event).
- Throughput: 100 agents; `--tasks` tasks addressed round-robin, submitted by `--clients`
  keep-alive connections at once; tasks/s from the first POST to the last `task.succeeded`.
- Memory: the growth of the server's heap (jemalloc's allocated bytes less SQLite's page caches)
  from no agent to 100 idle process agents, per agent. The programs are other processes: their
  memory is not in it. RSS growth is reported too.

Prints one JSON object.
"""

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse

from hive_server import DEFAULT_HIVE, ROOT, call, memory, serving

WORKER = os.path.join(ROOT, "examples", "worker.py")
PYTHON = "/usr/bin/python3"


class Events:
    """`task.succeeded` and `task.failed` events, with when each arrived."""

    def __init__(self, base):
        url = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
        self.conn.request("GET", "/api/v1/events?kinds=task.succeeded,task.failed,task.dead")
        self.response = self.conn.getresponse()
        self.done = {}
        self.lock = threading.Condition()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        kind = None
        for raw in self.response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind:
                data = json.loads(line[5:].strip())
                data = data.get("data", data)
                with self.lock:
                    self.done[data["id"]] = (time.perf_counter(), kind)
                    self.lock.notify_all()

    def wait_for(self, ids, seconds=300):
        deadline = time.monotonic() + seconds
        with self.lock:
            while not all(i in self.done for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"{sum(i not in self.done for i in ids)} tasks did not finish")
                self.lock.wait(left)
            return [self.done[i] for i in ids]


def submit(conn, agent, op):
    body = json.dumps({"agent": agent, "input": op})
    conn.request("POST", "/api/v1/tasks", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    text = response.read()
    if response.status != 202:
        raise SystemExit(f"submit answered {response.status}: {text[:200]}")
    return json.loads(text)["id"]


def connection(base):
    url = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=60)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def process_agents(base, count):
    spec = {"role": "py", "executor": {"kind": "process", "program": PYTHON, "args": [WORKER]}}
    created = call(base, "POST", "/api/v1/agents/batch", {"count": count, "template": spec})
    return created["ids"]


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--hive", default=DEFAULT_HIVE)
    args.add_argument("--tasks", type=int, default=2000)
    args.add_argument("--clients", type=int, default=16)
    opts = args.parse_args()

    with serving(opts.hive, ["--allow-exec", PYTHON]) as base:
        empty = memory(base, 0)
        agents = process_agents(base, 100)
        full = memory(base, 100)
        events = Events(base)

        # Round trip through one agent, one task at a time.
        conn, one = connection(base), agents[0]
        for _ in range(50):  # warm-up: the program's first tasks, the connection
            events.wait_for([submit(conn, one, {"op": "pid"})])
        trips = []
        for _ in range(opts.tasks):
            started = time.perf_counter()
            task = submit(conn, one, {"op": "pid"})
            (done, kind), = events.wait_for([task])
            assert kind == "task.succeeded", kind
            trips.append((done - started) * 1000)

        # Throughput over 100 agents.
        ids, lock = [], threading.Lock()
        per_client = opts.tasks // opts.clients

        def client(n):
            c = connection(base)
            mine = [submit(c, agents[(n * per_client + i) % len(agents)], {"op": "pid"})
                    for i in range(per_client)]
            with lock:
                ids.extend(mine)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(opts.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        finished = events.wait_for(ids)
        last = max(done for done, _ in finished)
        failed = sum(kind != "task.succeeded" for _, kind in finished)

    print(json.dumps({
        "round_trip_ms": {"p50": percentile(trips, 0.50), "p99": percentile(trips, 0.99),
                          "tasks": len(trips)},
        "tasks_per_s_100_agents": len(ids) / (last - started),
        "throughput_tasks": len(ids),
        "throughput_failed": failed,
        "clients": opts.clients,
        "heap_bytes_per_idle_process_agent": (full["heap"] - empty["heap"]) / 100,
        "rss_bytes_per_idle_process_agent": (full["rss"] - empty["rss"]) / 100,
    }))


if __name__ == "__main__":
    main()
