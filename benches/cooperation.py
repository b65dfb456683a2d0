#!/usr/bin/env python3
"""Agents that cooperate, measured from outside the server: a fan-out/fan-in workflow, a topic's
message to many subscribers, and what `depends_on` adds to a submission.

    benches/cooperation.py [--hive PATH] [--agents N] [--subscribers N] [--submits N]

Starts `hive serve` (release binary, temporary SQLite data directory) with `--agents` built-in
agents of role `w`.

- Workflow: one `POST /api/v1/tasks/batch` of 1,000 tasks: a root, 998 tasks that each wait for
  it, and a sink (`{"op":"collect"}`) that waits for all 998. Timed from the POST to the sink's
  `task.succeeded` on the event stream; the sink's result is checked to hold 998 results.
  Repeated 5 times; median and worst.
- Topic: `--subscribers` built-in agents subscribed to `bench`; each of 5 messages is timed to its
  202 (every task committed) and to the last subscriber's `task.succeeded`.
- Submit latency: `--submits` sequential `POST /api/v1/tasks` each, without `depends_on`, with
  one dependency that already succeeded (queued at once), and with one that has not ended
  (the task waits); p50 and p99 of each.

Prints one JSON object.
"""

import argparse
import json
import time

from hive_server import DEFAULT_HIVE, call, create_agents, serving
from process_agents import Events, connection, percentile


def post(conn, path, body):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    text = response.read()
    if response.status != 202:
        raise SystemExit(f"POST {path} answered {response.status}: {text[:200]}")
    return json.loads(text)


def workflow(base, events):
    conn = connection(base)
    middle = [{"ref": f"m{i}", "role": "w", "input": {"op": "echo", "value": i},
               "depends_on": ["root"]} for i in range(998)]
    tasks = ([{"ref": "root", "role": "w", "input": {"op": "echo", "value": "root"}}] + middle
             + [{"ref": "sink", "role": "w", "input": {"op": "collect"},
                 "depends_on": [m["ref"] for m in middle]}])
    started = time.perf_counter()
    accepted = post(conn, "/api/v1/tasks/batch", {"tasks": tasks})
    submitted = time.perf_counter()
    sink = accepted["ids"]["sink"]
    (done, kind), = events.wait_for([sink])
    assert kind == "task.succeeded", kind
    result = call(base, "GET", f"/api/v1/tasks/{sink}")["result"]
    assert len(result) == 998, len(result)
    return (submitted - started) * 1000, (done - started) * 1000


def topic(base, events, subscribers):
    conn = connection(base)
    started = time.perf_counter()
    tasks = post(conn, "/api/v1/topics/bench/messages", {"input": {"op": "echo", "value": 1}})["tasks"]
    committed = time.perf_counter()
    assert len(tasks) == subscribers, len(tasks)
    finished = events.wait_for(tasks)
    last = max(done for done, _ in finished)
    assert all(kind == "task.succeeded" for _, kind in finished)
    return (committed - started) * 1000, (last - started) * 1000


def submit_latency(base, events, count, depends_on):
    conn = connection(base)
    times = []
    for _ in range(count):
        body = {"role": "w", "input": {"op": "echo", "value": 0}}
        if depends_on:
            body["depends_on"] = depends_on
        started = time.perf_counter()
        post(conn, "/api/v1/tasks", body)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": percentile(times, 0.5), "p99": percentile(times, 0.99)}


def summary(values):
    ordered = sorted(values)
    return {"median": ordered[len(ordered) // 2], "worst": ordered[-1]}


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--hive", default=DEFAULT_HIVE)
    args.add_argument("--agents", type=int, default=16)
    args.add_argument("--subscribers", type=int, default=1000)
    args.add_argument("--submits", type=int, default=2000)
    opts = args.parse_args()

    with serving(opts.hive) as base:
        create_agents(base, opts.agents, "w")
        events = Events(base)
        runs = [workflow(base, events) for _ in range(5)]

        created = 0
        while created < opts.subscribers:
            step = min(1000, opts.subscribers - created)
            call(base, "POST", "/api/v1/agents/batch",
                 {"count": step, "template": {"role": "listener", "topics": ["bench"]}})
            created += step
        messages = [topic(base, events, opts.subscribers) for _ in range(5)]

        conn = connection(base)
        done = post(conn, "/api/v1/tasks", {"role": "w", "input": {"op": "echo", "value": 0}})["id"]
        events.wait_for([done])
        # A dependency that never ends: a role with no agent keeps it queued.
        pending = post(conn, "/api/v1/tasks", {"role": "nobody", "input": {}})["id"]
        latency = {
            "none": submit_latency(base, events, opts.submits, None),
            "succeeded_dependency": submit_latency(base, events, opts.submits, [done]),
            "unfinished_dependency": submit_latency(base, events, opts.submits, [pending]),
        }

    print(json.dumps({
        "workflow_1000_tasks_ms": {"submit": summary([s for s, _ in runs]),
                                   "end_to_end": summary([e for _, e in runs]),
                                   "agents": opts.agents},
        "topic_fanout_ms": {"committed": summary([c for c, _ in messages]),
                            "all_done": summary([d for _, d in messages]),
                            "subscribers": opts.subscribers},
        "submit_latency_ms": latency,
        "submits": opts.submits,
    }))


if __name__ == "__main__":
    main()
