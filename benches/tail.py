#!/usr/bin/env python3
"""The tail of `POST /api/v1/tasks` under a paced load, on SQLite and on PostgreSQL, and where it
comes from. Prints one JSON object.

    HIVE_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
    benches/tail.py [path to a release hive binary, default target/release/hive]

For each store, one server (`hive serve`, 1,000 `echo` agents, rate limit off) is loaded back to
back by `hive loadtest --url`:
- the peak: a closed loop of 32 clients for 20 s, tasks per second;
- paced (open loop, coordinated-omission-correct, up to 256 in flight) for 20 s at 80 % of
  that peak and at the issue's fixed rate (5,000/s on SQLite, 3,000/s on PostgreSQL).
Each run reports the client's latency percentiles and the server's own account of the same
submissions: the time per phase (`hive_submit_phase_seconds`), the writes per commit and the
commit times. The load generator shares the machine with the server (and PostgreSQL), so at 80 %
of the peak the machine's cores are about 80 % busy too.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATABASE = os.environ.get("HIVE_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
HIVE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "hive")
AGENTS = 1000
DURATION = "20s"
FIXED_RATE = {"sqlite": 5000, "postgres": 3000}


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql):
    out = subprocess.run(["psql", DATABASE, "-qAtc", sql], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"psql failed on {sql!r}: {out.stderr.strip()}")


def wait_ready(base):
    for _ in range(600):
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                if json.load(r)["status"] == "ready":
                    return
        except Exception:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not become ready")


def loadtest(base, extra):
    out = subprocess.run([HIVE, "loadtest", "--url", base, "--agents", str(AGENTS),
                          "--duration", DURATION, "--json"] + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    return json.loads(out.stdout)


def summary(report):
    submit = report["latency_ms"]["POST /api/v1/tasks"]
    return {
        "target_per_s": report.get("target_rate"),
        "requests_per_s": report["requests_per_s"],
        "submit_ms": {k: submit[k] for k in ("p50", "p95", "p99", "max")},
        "errors": report["errors"],
        "server": report.get("submissions", {}),
    }


def store(kind):
    data = tempfile.mkdtemp(prefix="hive-tail-")
    port = free_port()
    args = [HIVE, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data, "--rate-limit", "0"]
    schema = None
    if kind == "postgres":
        schema = f"hive_bench_{uuid.uuid4().hex}"
        psql(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in DATABASE else "?"
        args += ["--database-url", f"{DATABASE}{sep}options=-c%20search_path%3D{schema}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HIVE_DATABASE_URL", "HIVE_CONFIG")}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        peak = loadtest(base, [])
        peak_rate = peak["requests_per_s"]
        runs = {"peak": summary(peak)}
        for name, rate in (("at_80_percent", 0.8 * peak_rate), ("fixed", FIXED_RATE[kind])):
            runs[name] = summary(loadtest(base, ["--rate", f"{rate:.0f}", "--concurrency", "256"]))
        return runs
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)
        if schema:
            psql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main():
    print(json.dumps({"sqlite": store("sqlite"), "postgres": store("postgres")}, indent=1))


if __name__ == "__main__":
    main()
