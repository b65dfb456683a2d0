#!/usr/bin/env python3
"""Hive's performance figures: recorded from JSON reports, written into docs/performance.md.

    benches/report.py record NAME [--file PATH] -- COMMAND...
        Run COMMAND and keep its JSON report (its stdout, or the file PATH it writes) in
        benches/results/NAME.json, with the exact command, the machine and the date.
    benches/report.py record NAME --ran OUTPUT -- COMMAND...
        Keep the JSON report a run too long to repeat (the 1-hour soak) already wrote to OUTPUT,
        with the command that wrote it; HIVE_RETENTION and HIVE_AUDIT_RETENTION as set here are
        recorded as part of the command, as are HIVE_BENCH_* variables.
    benches/report.py table
        Rewrite the table between the performance markers of docs/performance.md from
        benches/results/, so that no figure in the docs is typed by hand.
"""

import datetime
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benches", "results")
BEGIN = "<!-- performance:begin (benches/report.py table writes this table) -->"
END = "<!-- performance:end -->"
MIB = 1024 * 1024


def machine():
    model, mem_kb = "unknown CPU", 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return f"{model}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.0f} GiB"


def record(args):
    name, file, ran = args[0], None, None
    rest = args[1:]
    if rest[:1] == ["--file"]:
        file, rest = rest[1], rest[2:]
    # A run too long to repeat here (the 1-hour soak): its JSON output was saved to this file by
    # exactly the command given after `--`, with the environment this shell has.
    if rest[:1] == ["--ran"]:
        ran, rest = rest[1], rest[2:]
    if rest[:1] != ["--"] or len(rest) < 2:
        sys.exit(__doc__)
    command = rest[1:]
    if ran:
        with open(ran) as f:
            report = json.load(f)
    else:
        run = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, env=os.environ)
        if run.returncode != 0:
            sys.exit(f"{shlex.join(command)} exited {run.returncode}")
        if file:
            with open(os.path.join(ROOT, file)) as f:
                report = json.load(f)
        else:
            report = json.loads(run.stdout)
    env = " ".join(
        f"{k}={shlex.quote(v)}"
        for k, v in sorted(os.environ.items())
        if k.startswith("HIVE_BENCH_") or k in ("HIVE_RETENTION", "HIVE_AUDIT_RETENTION")
    )
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(
            {
                "command": (env + " " if env else "") + shlex.join(command),
                "machine": machine(),
                "date": datetime.date.today().isoformat(),
                "report": report,
            },
            f,
            indent=2,
        )
        f.write("\n")
    print(f"recorded {name}")


def load(name):
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def dig(value, path):
    for key in path:
        if value is None:
            return None
        value = value.get(key) if isinstance(value, dict) else None
    return value


# Each row: figure, seed target, our goal, report name, how to read the measured value from it.
def ms(x):
    return f"{x:.2f} ms"


def pct(x):
    return "n/a" if x is None else f"{x * 100:.0f} %"


def detector(report, name):
    return next(d for d in report["detectors"] if d["detector"] == name)


def tail(store):
    run = lambda name: store[name]["submit_ms"]["p99"]
    return (f"{ms(run('at_80_percent'))} at {store['at_80_percent']['target_per_s']:,.0f}/s / "
            f"{ms(run('fixed'))} at {store['fixed']['target_per_s']:,.0f}/s "
            f"(peak {store['peak']['requests_per_s']:,.0f}/s)")


def phases(run):
    server = run["server"]
    each = " / ".join(f"{server['phases_ms'][p]['p99']:.2f}" for p in
                      ("to_orchestrator", "to_store", "batch_wait", "commit", "answer", "reply"))
    commits = server["commit_ms"]
    return (f"{each} ms; commits p50 / p99 {commits['p50']:.2f} / {commits['p99']:.2f} ms, "
            f"{server['batch_writes']['mean']:.0f} writes each")


def rows():
    gate = lambda r: r["with_200_agents"]
    worst_p95 = lambda r: max(p["p95"] for p in gate(r)["latency_ms"].values())
    return [
        ("every endpoint p95, 200 agents, 1,000 req/s (standard scenario)", "< 50 ms", "< 5 ms",
         "gate", lambda r: ms(worst_p95(r))),
        ("`POST /api/v1/tasks` p95 / p99, 200 agents, 1,000 req/s", "< 50 ms", "< 5 ms",
         "gate", lambda r: f"{ms(gate(r)['latency_ms']['POST /api/v1/tasks']['p95'])} / "
                           f"{ms(gate(r)['latency_ms']['POST /api/v1/tasks']['p99'])}"),
        ("p95 with 200 agents against 10", "within 10 %", "within 10 %", "gate",
         lambda r: f"{ms(gate(r)['latency_ms']['POST /api/v1/tasks']['p95'])} vs "
                   f"{ms(r['with_10_agents']['latency_ms']['POST /api/v1/tasks']['p95'])}"),
        ("server RSS peak, 200 agents under load", "< 80 MB", "< 32 MiB", "gate",
         lambda r: f"{gate(r)['rss_bytes']['peak'] / MIB:.1f} MiB"),
        ("task submit → final p50 / p99, 200 agents", "", "", "gate",
         lambda r: f"{ms(gate(r)['task_latency_ms']['p50'])} / {ms(gate(r)['task_latency_ms']['p99'])}"),
        ("soak: RSS slope after warm-up (1 h, 300 req/s, 1 % panics)", "", "< 0.8 MB/h (1 % of 80 MB)",
         "soak", lambda r: f"{r['rss_bytes']['slope_per_hour_after_warmup'] / MIB:+.2f} MiB/h "
                           f"(peak {r['rss_bytes']['peak'] / MIB:.1f} MiB, {r['restarts']} restarts)"),
        ("capacity: highest rate with submit p95 < 50 ms, 200 agents", "", "≥ 5,000/s", "capacity",
         lambda r: f"{r['highest_passing_rate']:,.0f}/s"),
        ("RSS idle / 10,000 agents (SQLite)", "< 80 MB with 200 agents", "", "http_load_sqlite",
         lambda r: f"{r['rss_idle_bytes'] / MIB:.1f} / {r['rss_10000_agents_bytes'] / MIB:.1f} MiB"),
        ("`POST /api/v1/tasks`, 64 clients, saturated (SQLite)", "p95 < 50 ms", "", "http_load_sqlite",
         lambda r: f"{r['submit_64_clients']['tasks_per_s']:,.0f}/s, p95 {ms(r['submit_64_clients']['p95_ms'])}"),
        ("`POST /api/v1/tasks` paced (SQLite)", "", "≥ 5,000/s, p99 < 10 ms", "http_load_sqlite",
         lambda r: f"{r['submit_paced']['tasks_per_s']:,.0f}/s, p99 {ms(r['submit_paced']['p99_ms'])}"),
        ("`echo` end to end, 1,000 agents (SQLite)", "", "", "http_load_sqlite",
         lambda r: f"{r['end_to_end_1000_agents_tasks_per_s']:,.0f} tasks/s"),
        ("`POST /api/v1/tasks` paced (PostgreSQL)", "", "≥ 3,000/s, p99 < 10 ms", "http_load_postgres",
         lambda r: f"{r['submit_paced']['tasks_per_s']:,.0f}/s, p99 {ms(r['submit_paced']['p99_ms'])}"),
        ("`POST /api/v1/tasks` p99 paced at 80 % of the peak / at 5,000/s, 1,000 agents (SQLite)", "",
         "< 5 ms / < 5 ms", "tail", lambda r: tail(r["sqlite"])),
        ("`POST /api/v1/tasks` p99 paced at 80 % of the peak / at 3,000/s, 1,000 agents (PostgreSQL)", "",
         "< 10 ms / < 10 ms", "tail", lambda r: tail(r["postgres"])),
        ("where a paced submission waits, p99 per phase at 5,000/s (SQLite): to the orchestrator / to the store / batch in flight / commit / answer / reply",
         "", "", "tail", lambda r: phases(r["sqlite"]["fixed"])),
        ("where a paced submission waits, p99 per phase at 3,000/s (PostgreSQL)", "", "", "tail",
         lambda r: phases(r["postgres"]["fixed"])),
        ("actix round trip, same / other thread", "", "< 1 µs per hop", "hops",
         lambda r: f"{r['round trip ns, actix, same thread'] / 1e3:.2f} / {r['round trip ns, actix, other thread'] / 1e3:.2f} µs"),
        ("tokio channel round trip, same / other thread", "", "", "hops",
         lambda r: f"{r['round trip ns, tokio channel, same thread'] / 1e3:.2f} / {r['round trip ns, tokio channel, other thread'] / 1e3:.2f} µs"),
        ("HTTP through an agent hop vs a bare handler (throughput)", "", "", "hops",
         lambda r: f"{r['http hop/bare throughput ratio']:.2f} × ({r['http through an agent hop req/s']:,.0f} vs {r['http bare req/s']:,.0f} req/s)"),
        ("store group commit of 1 / 64 / 512 new tasks (SQLite, fsync)", "", "", "hops",
         lambda r: " / ".join(f"{r[f'store commit ms, {n} new tasks']:.2f}" for n in (1, 64, 512)) + " ms"),
        ("dashboard shows the tree, 10,000 agents, loopback (p50 / max of 5 loads)", "", "< 1 s",
         "dashboard_load", lambda r: f"{ms(r['load_ms']['p50'])} / {ms(r['load_ms']['max'])}"),
        ("NAB standard / low FP / low FN, the monitor's detector (novelty), best threshold", "",
         "≥ 69.5 (Numenta HTM)", "evaluate",
         lambda r: " / ".join(f"{p['normalized']:.1f}" for p in detector(r, "novelty")["profiles"])
                   + f"; {detector(r, 'novelty')['at_own_alarm']['normalized']:.1f} at its own alarm"),
        ("NAB standard, published detectors on the same files (HTM / rel. entropy / KNN CAD / windowed Gaussian)",
         "", "", "evaluate", lambda r: " / ".join(f"{s:.1f}" for _, s in r["published"])
                   + f"; robust z {detector(r, 'robust_z')['profiles'][0]['normalized']:.1f}"),
        ("forecast relMAE vs naive, worst / median series, horizons 1 / 5 / 20", "",
         "≤ 1.0 / ≤ 0.9", "evaluate",
         lambda r: "; ".join(f"h{h['horizon']} {h['worst_rel_mae']:.3f} / {h['median_rel_mae']:.3f}"
                             for h in r["monitor_forecasts"])),
        ("80 % interval coverage, horizons 1 / 5 / 20", "", "75–85 %", "evaluate",
         lambda r: " / ".join(pct(h["coverage"]) for h in r["monitor_forecasts"])),
        ("overload warnings 10–30 s ahead on mailbox-depth series: recall / precision per family",
         "", "≥ 0.8 / ≥ 0.8 in every family", "evaluate",
         lambda r: "; ".join(f"{f['family']} {pct(f['recall'])} / {pct(f['precision'])} "
                             f"({f['warned_in_time']} of {f['foreseeable']} foreseeable, "
                             f"{f['alarms_right']} of {f['alarms']} alarms)"
                             for f in r["overload_families"])),
        ("Hive's own series (replay's waits and mailboxes, `benches/replay_corpus.py`): NAB standard novelty / robust z; forecast relMAE worst / median h1", "", "", "evaluate_hive_series",
         lambda r: f"{detector(r, 'novelty')['profiles'][0]['normalized']:.1f} / "
                   f"{detector(r, 'robust_z')['profiles'][0]['normalized']:.1f}; "
                   f"{r['monitor_forecasts'][0]['worst_rel_mae']:.3f} / {r['monitor_forecasts'][0]['median_rel_mae']:.3f}"
                   f" ({r['files']} series, {r['windows']} overload onsets)"),
        ("replay SLO violations off / reactive / predictive, per trace", "", "predictive ≥ 80 % fewer than off, fewer than reactive",
         "replay",
         lambda r: "; ".join(f"{t['trace']['name']} {t['off']['violations']} / "
                             f"{t.get('reactive', {}).get('violations', 'n/a')} / {t['on']['violations']}"
                             for t in r["traces"])),
        ("overload predicted ≥ 10 s ahead in the replay: precision / recall (all six traces, plugins off)", "80 % accuracy",
         "≥ 0.8 / ≥ 0.8", "replay",
         lambda r: f"{pct(r['prediction']['precision'])} / {pct(r['prediction']['recall'])} "
                   f"({r['prediction']['breaches']} breaches, {r['prediction']['alarms']} alarms)"),
        ("the same, recall over the overloads the load gave ≥ 10 s notice of", "", "", "replay",
         lambda r: f"{pct(r['foreseeable']['recall'])} ({r['foreseeable']['breaches_predicted']} of "
                   f"{r['foreseeable']['breaches']}; too sudden: "
                   + (", ".join(f"{n:.0f} s" for n in r['foreseeable']['too_sudden_notice_s']) or "none")
                   + " notice)"),
        ("SLO violations, plugins predictive / reactive / off (same traces)", "", "≥ 80 % fewer", "replay",
         lambda r: f"{r['violations_on']:,} / {format(r['violations_reactive'], ',') if 'violations_reactive' in r else 'n/a'} / {r['violations_off']:,}: "
                   f"{pct(r['violation_reduction'])} fewer predictive, "
                   f"{pct(r.get('violation_reduction_reactive'))} reactive"),
        ("replay: plugins' first act after the first sign of overload, reactive / predictive; critical SLO misses off / reactive / predictive, per trace",
         "", "burst: ≤ 2 s, critical kept", "replay",
         lambda r: "; ".join(
             f"{t['trace']['name']} "
             + " / ".join("n/a" if t[a].get('reaction_s') is None else f"{t[a]['reaction_s']:.0f} s"
                          for a in ("reactive", "on"))
             + ", " + " / ".join(str(t[a].get('slo_missed_critical', 'n/a')) for a in ("off", "reactive", "on"))
             for t in r["traces"])),
        ("the monitor's own cost, 10,000 agents, 1,000 req/s (sample time / wall time)", "",
         "< 2 % of one core", "monitor_cost",
         lambda r: f"{r['monitor']['share_of_core'] * 100:.2f} % ({r['monitor']['mean_sample_ms']:.2f} ms "
                   f"per sample, {r['monitor']['samples']} samples)"),
        ("restart one child p50 / p99", "", "≤ 5 µs / ≤ 50 µs", "supervision",
         lambda r: f"{r['restart_p50_us']:.2f} / {r['restart_p99_us']:.2f} µs"),
        ("1,000 simultaneous restarts: killed / panicked (incl. Rust's unwinding)", "", "≤ 5 ms",
         "supervision",
         lambda r: f"{r['restart_1000_killed_p50_ms']:.2f} / {r['restart_1000_p50_ms']:.2f} ms (p50 of 20)"
                   + (f"; panicked on another arbiter {r['restart_1000_remote_p50_ms']:.2f} ms"
                      if 'restart_1000_remote_p50_ms' in r else "")
                   + (f"; 1,000 panics caught with nothing supervised {r['panics_1000_p50_ms']:.2f} ms"
                      if 'panics_1000_p50_ms' in r else "")),
        ("spawn one supervised child (10k / 100k; median of 5 passes)", "", "≤ 2 µs", "supervision",
         lambda r: f"{r['spawn_us_10000']:.2f} / {r['spawn_us_100000']:.2f} µs"),
        ("bytes per idle supervised child (10k / 100k; on another arbiter)", "", "≤ 1 KB", "supervision",
         lambda r: f"{r['bytes_per_child_10000']:,.0f} / {r['bytes_per_child_100000']:,.0f} B; "
                   f"{r['bytes_per_remote_child_10000']:,.0f} B"),
        ("heap per idle Hive agent, everything the server keeps for it (10k / 100k)", "", "≤ 1 KB",
         "agent_memory",
         lambda r: f"{r['heap_bytes_per_agent_10000']:,.0f} / {r['heap_bytes_per_agent_100000']:,.0f} B "
                   f"(RSS {r['rss_bytes_per_agent_100000']:,.0f} B at 100k)"),
        ("addressed task through a process agent (`examples/worker.py`), submit → `task.succeeded` p50 / p99",
         "", "", "process_agents",
         lambda r: f"{ms(r['round_trip_ms']['p50'])} / {ms(r['round_trip_ms']['p99'])} ({r['round_trip_ms']['tasks']:,} tasks)"),
        ("addressed tasks/s over 100 process agents", "", "", "process_agents",
         lambda r: f"{r['tasks_per_s_100_agents']:,.0f}/s ({r['throughput_tasks']:,} tasks, {r['clients']} clients, "
                   f"{r['throughput_failed']} failed)"),
        ("server heap per idle process agent, its program excluded", "", "", "process_agents",
         lambda r: f"{r['heap_bytes_per_idle_process_agent']:,.0f} B (RSS {r['rss_bytes_per_idle_process_agent']:,.0f} B)"),
        ("workflow of 1,000 tasks (root → 998 → sink), one batch POST → the sink's `task.succeeded`, median / worst of 5",
         "", "", "cooperation",
         lambda r: f"{ms(r['workflow_1000_tasks_ms']['end_to_end']['median'])} / "
                   f"{ms(r['workflow_1000_tasks_ms']['end_to_end']['worst'])} (the batch's 202 after "
                   f"{ms(r['workflow_1000_tasks_ms']['submit']['median'])}; {r['workflow_1000_tasks_ms']['agents']} agents)"),
        ("a topic's message to 1,000 subscribers: 202 (all committed) / every task done, median of 5",
         "", "", "cooperation",
         lambda r: f"{ms(r['topic_fanout_ms']['committed']['median'])} / {ms(r['topic_fanout_ms']['all_done']['median'])}"),
        ("`POST /api/v1/tasks` p50 / p99: no `depends_on`; one that succeeded; one not ended",
         "", "", "cooperation",
         lambda r: "; ".join(f"{ms(r['submit_latency_ms'][k]['p50'])} / {ms(r['submit_latency_ms'][k]['p99'])}"
                             for k in ("none", "succeeded_dependency", "unfinished_dependency"))
                   + f" ({r['submits']:,} sequential each)"),
        ("cluster: `echo` tasks/s with 1 / 2 / 3 nodes on one PostgreSQL and Redis (all on 2 cores)",
         "", "", "cluster",
         lambda r: " / ".join(f"{t['tasks_per_s']:,.0f}" for t in r["throughput"])
                   + " (submit p95 " + " / ".join(ms(t["submit_p95_ms_worst_node"]) for t in r["throughput"]) + ")"),
        ("cluster: per task, PostgreSQL statements (each a round trip) / transactions / WAL bytes, 1 / 2 / 3 nodes",
         "", "≤ 2 round trips, whatever the nodes", "cluster",
         lambda r: "; ".join(f"{t['cost']['pg_statements_per_task']:.2f} / {t['cost']['pg_transactions_per_task']:.2f} / "
                             f"{t['cost']['pg_wal_bytes_per_task']:,.0f} B" for t in r["throughput"])),
        ("cluster: per task, Redis commands / bytes in and out, 1 / 2 / 3 nodes", "",
         "≤ 4 commands, whatever the nodes", "cluster",
         lambda r: "; ".join(f"{t['cost']['redis_commands_per_task']:.2f} / {t['cost']['redis_bytes_per_task']:,.0f} B"
                             for t in r["throughput"])),
        ("cluster: a SIGKILLed node's work taken over / all its tasks ended (lease 5 s)", "", "",
         "cluster",
         lambda r: f"{r['recovery']['taken_over_after_s']:.1f} s / {r['recovery']['all_its_tasks_ended_after_s']:.1f} s "
                   f"after the kill ({r['recovery']['tasks_held_by_the_lost_node']} tasks)"),
    ]


def table():
    lines = [
        "| figure | seed target | our goal | measured | command | machine, date |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure, seed, goal, name, read in rows():
        recorded = load(name)
        if recorded is None:
            measured, command, where = "not recorded", "", ""
        else:
            try:
                measured = read(recorded["report"])
            except (KeyError, TypeError, ValueError) as e:
                measured = f"missing ({e})"
            command = f"`{recorded['command']}`"
            where = f"{recorded['machine']}, {recorded['date']}"
        lines.append(f"| {figure} | {seed} | {goal} | {measured} | {command} | {where} |")
    return "\n".join(lines)


def write_table():
    path = os.path.join(ROOT, "docs", "performance.md")
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"docs/performance.md has no {BEGIN} … {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{table()}\n{END}{tail}")
    print("docs/performance.md: performance table written")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "record":
        record(sys.argv[2:])
    elif sys.argv[1:] == ["table"]:
        write_table()
    else:
        sys.exit(__doc__)
