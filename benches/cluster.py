#!/usr/bin/env python3
"""Several Hive nodes on one PostgreSQL and one Redis: throughput of 1, 2 and 3 nodes, what each
task costs PostgreSQL and Redis, and how long the survivors take to recover a SIGKILLed node's
work. Prints one JSON object.

    HIVE_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
    HIVE_BENCH_REDIS_URL    (default redis://127.0.0.1:6379)
    HIVE_BENCH_NODES        (default 1,2,3: the cluster sizes measured)
    benches/cluster.py [path to a release hive binary, default target/release/hive]

Each run gets a PostgreSQL schema and a Redis prefix of its own, dropped afterwards. Every node
is a `hive serve` process; the load comes from one `hive loadtest` per node (closed loop, echo
tasks), all at once, and the figures add up what they measured. On a 2-core machine the nodes,
the load generators, PostgreSQL and Redis share the same two cores, so this shows what a node
costs and that work spreads, not how a real cluster scales.

What a task costs is counted exactly, from the servers' own statistics over each throughput run
(from its start to the nodes' stop), divided by the tasks that ended in it:
- PostgreSQL: statements (`pg_stat_statements` calls, BEGIN and COMMIT included: each is one
  round trip), transactions (`pg_stat_database.xact_commit`) and WAL bytes
  (`pg_current_wal_lsn`). `pg_stat_statements` must be in `shared_preload_libraries`; without it
  the statements are reported as null.
- Redis: commands (`INFO commandstats`, reset with `CONFIG RESETSTAT`) and bytes in and out
  (`INFO stats`).
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATABASE = os.environ.get("HIVE_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("HIVE_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
HIVE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "hive")
DURATION = "20s"
AGENTS_PER_NODE = 32
CLIENTS_PER_NODE = 16
LEASE_MS = 5000


def psql(sql, url=DATABASE):
    out = subprocess.run(["psql", url, "-qAtc", sql], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"psql failed on {sql!r}: {out.stderr.strip()}")
    return out.stdout.strip()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


class Cluster:
    def __init__(self, nodes, workdir):
        self.schema = f"hive_bench_{uuid.uuid4().hex}"
        self.prefix = f"hive-bench-{uuid.uuid4().hex[:12]}"
        psql(f"CREATE SCHEMA {self.schema}")
        sep = "&" if "?" in DATABASE else "?"
        self.url = f"{DATABASE}{sep}options=-c%20search_path%3D{self.schema}"
        self.nodes = []
        for i in range(nodes):
            port = free_port()
            data = os.path.join(workdir, f"n{i + 1}")
            os.makedirs(data, exist_ok=True)
            proc = subprocess.Popen(
                [HIVE, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data,
                 "--database-url", self.url, "--redis-url", REDIS, "--redis-prefix", self.prefix,
                 "--node-id", f"n{i + 1}", "--rate-limit", "0"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.nodes.append((f"n{i + 1}", f"http://127.0.0.1:{port}", proc))
        try:
            for _, base, _ in self.nodes:
                self.wait_ready(base)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def wait_ready(base):
        for _ in range(600):
            try:
                if get(base + "/readyz")["status"] == "ready":
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{base} did not become ready")

    def close(self):
        for _, _, proc in self.nodes:
            if proc.poll() is None:
                proc.terminate()
        for _, _, proc in self.nodes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        psql(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        subprocess.run(["redis-cli", "-u", REDIS, "--no-raw", "EVAL",
                        "for _,k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end",
                        "0", f"{self.prefix}:*"], capture_output=True)


def loadtests(bases, extra):
    procs = [subprocess.Popen([HIVE, "loadtest", "--url", base, "--agents", str(AGENTS_PER_NODE),
                               "--json"] + extra, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
             for base in bases]
    return [json.loads(p.communicate()[0]) for p in procs]


def redis_info(section):
    out = subprocess.run(["redis-cli", "-u", REDIS, "INFO", section], capture_output=True, text=True)
    return dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)


def redis_counts():
    """Commands since the last reset (but the INFO calls) by name, and bytes in and out."""
    commands = {k[len("cmdstat_"):]: int(v.split("calls=")[1].split(",")[0])
                for k, v in redis_info("commandstats").items()
                if k.startswith("cmdstat_") and k not in ("cmdstat_info", "cmdstat_config")}
    stats = redis_info("stats")
    return commands, int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


def statements_available():
    return psql("SELECT COUNT(*) FROM pg_extension WHERE extname = 'pg_stat_statements'") == "1" and \
        "pg_stat_statements" in psql("SHOW shared_preload_libraries")


def pg_counts(database):
    """Statements (if counted), committed transactions and the WAL's position."""
    statements = None
    if statements_available():
        statements = int(psql("SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements "
                              f"WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{database}')"))
        top = psql("SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_statements "
                   f"WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{database}') "
                   "ORDER BY calls DESC LIMIT 12")
        print(f"the most frequent statements so far:\n{top}", file=sys.stderr)
    commits = int(psql(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'"))
    return statements, commits, psql("SELECT pg_current_wal_lsn()")


def costs(before, after, tasks):
    (statements0, commits0, wal0), (redis0, bytes0) = before
    (statements1, commits1, wal1), (redis1, bytes1) = after
    wal = int(psql(f"SELECT pg_wal_lsn_diff('{wal1}', '{wal0}')"))
    per = lambda x: None if x is None else round(x / tasks, 3)
    return {
        "tasks": tasks,
        "pg_statements_per_task": per(None if statements0 is None else statements1 - statements0),
        "pg_transactions_per_task": per(commits1 - commits0),
        "pg_wal_bytes_per_task": per(wal),
        "redis_commands_per_task": per(sum(redis1.values()) - sum(redis0.values())),
        "redis_commands_by_name_per_task": {
            name: per(calls - redis0.get(name, 0))
            for name, calls in sorted(redis1.items(), key=lambda kv: -kv[1]) if calls > redis0.get(name, 0)},
        "redis_bytes_per_task": per(bytes1 - bytes0),
    }


def throughput(n, workdir):
    database = DATABASE.rsplit("/", 1)[1].split("?")[0]
    cluster = Cluster(n, os.path.join(workdir, f"throughput-{n}"))
    try:
        subprocess.run(["redis-cli", "-u", REDIS, "CONFIG", "RESETSTAT"], capture_output=True)
        if statements_available():
            psql("SELECT pg_stat_statements_reset()")
        before = (pg_counts(database), redis_counts())
        reports = loadtests([b for _, b, _ in cluster.nodes],
                            ["--duration", DURATION, "--concurrency", str(CLIENTS_PER_NODE)])
        ran_on = psql("SELECT node, COUNT(*) FROM tasks GROUP BY node ORDER BY node", cluster.url)
        ended = int(psql("SELECT COUNT(*) FROM tasks WHERE finished_at IS NOT NULL", cluster.url))
    finally:
        cluster.close()
    after = (pg_counts(database), redis_counts())
    submit = [r["latency_ms"]["POST /api/v1/tasks"] for r in reports]
    return {
        "cost": costs(before, after, ended),
        "nodes": n,
        "tasks_per_s": sum(r["tasks_per_s"] for r in reports),
        "requests_per_s": sum(r["requests_per_s"] for r in reports),
        "submit_p95_ms_worst_node": max(s["p95"] for s in submit),
        "task_latency_p50_ms_worst_node": max(r["task_latency_ms"]["p50"] for r in reports),
        "errors": [r["errors"] for r in reports],
        "tasks_by_node": dict(line.split("|") for line in ran_on.splitlines() if line),
    }


def recovery(workdir):
    """Three nodes, load on two (with 200 ms tasks, so that work is in flight everywhere); the
    third is SIGKILLed: how long until the survivors have taken its work over, and until every
    task it held has ended."""
    cluster = Cluster(3, os.path.join(workdir, "recovery"))
    try:
        bases = [b for _, b, _ in cluster.nodes]
        # n3 runs agents too; the load is sent to n1 and n2 only, n3 takes its share from Redis.
        batch = json.dumps({"count": 16, "template": {"role": "load"}}).encode()
        urllib.request.urlopen(urllib.request.Request(
            bases[2] + "/api/v1/agents/batch", data=batch,
            headers={"content-type": "application/json"}), timeout=10).read()
        procs = [subprocess.Popen([HIVE, "loadtest", "--url", base, "--agents", "16", "--json",
                                   "--duration", "25s", "--rate", "80", "--mix", "sleep=1",
                                   "--sleep-ms", "200"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for base in bases[:2]]
        time.sleep(10)
        victim = cluster.nodes[2][2]
        victim.kill()
        killed = time.time()
        victim.wait()
        held = psql("SELECT id FROM tasks WHERE node = 'n3' AND status IN ('queued', 'running')",
                    cluster.url)
        held = [h for h in held.splitlines() if h]
        taken_over_s = None
        while time.time() - killed < 60:
            view = get(bases[0] + "/api/v1/cluster")
            lost = [n for n in view["nodes"] if n["id"] == "n3" and n.get("taken_over_by")]
            if lost:
                taken_over_s = time.time() - killed
                break
            time.sleep(0.05)
        finished_s = None
        ids = ",".join(f"'{h}'" for h in held) or "''"
        while time.time() - killed < 120:
            left = int(psql(f"SELECT COUNT(*) FROM tasks WHERE id IN ({ids}) "
                            "AND status IN ('queued', 'running')", cluster.url))
            if left == 0:
                finished_s = time.time() - killed
                break
            time.sleep(0.05)
        for p in procs:
            p.communicate()
        states = psql(f"SELECT status, COUNT(*) FROM tasks WHERE id IN ({ids}) GROUP BY status",
                      cluster.url)
    finally:
        cluster.close()
    return {
        "lease_ms": LEASE_MS,
        "tasks_held_by_the_lost_node": len(held),
        "taken_over_after_s": taken_over_s,
        "all_its_tasks_ended_after_s": finished_s,
        "their_end_states": dict(line.split("|") for line in states.splitlines() if line),
    }


def main():
    import tempfile
    with tempfile.TemporaryDirectory() as workdir:
        counts = [int(n) for n in os.environ.get("HIVE_BENCH_NODES", "1,2,3").split(",")]
        report = {"throughput": [throughput(n, workdir) for n in counts],
                  "recovery": recovery(workdir)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
