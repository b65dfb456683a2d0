#!/usr/bin/env python3
"""What the monitor costs a server with many agents.

    benches/monitor_cost.py [--hive PATH] [--agents N] [--seconds S]

Starts `hive serve` (release binary, default one-second sampling), creates N agents (10,000 by
default) in batches, lets the monitor sample for S seconds (120 by default), and reads its own
histogram of the time one sample takes (`hive_forecast_sample_duration_seconds`: reading every series,
detecting, forecasting, time-to-breach) and how many series it watches. Prints one JSON object:
{"agents", "series", "samples", "mean_sample_ms", "core_share", "history_bytes"}; `core_share` is
the mean sample time over the sampling interval, the share of one core the monitor keeps busy.
"""

import argparse
import json
import time
import urllib.request

from hive_server import DEFAULT_HIVE, call, serving


def metric(base, name):
    with urllib.request.urlopen(base + "/metrics", timeout=60) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hive", default=DEFAULT_HIVE)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    with serving(args.hive) as base:
        left = args.agents
        while left > 0:
            count = min(left, 1000)
            call(base, "POST", "/api/v1/agents/batch", {"count": count, "template": {"role": "bench"}})
            left -= count
        before = (metric(base, "hive_forecast_sample_duration_seconds_sum"),
                  metric(base, "hive_forecast_sample_duration_seconds_count"))
        time.sleep(args.seconds)
        after = (metric(base, "hive_forecast_sample_duration_seconds_sum"),
                 metric(base, "hive_forecast_sample_duration_seconds_count"))
        view = call(base, "GET", "/api/v1/monitor/forecasts")
        samples = after[1] - before[1]
        mean = (after[0] - before[0]) / max(samples, 1)
        interval = view["interval_ms"] / 1000
        print(json.dumps({
            "agents": args.agents,
            "series": len(view["series"]),
            "samples": int(samples),
            "mean_sample_ms": round(mean * 1000, 3),
            "core_share": round(mean / interval, 5),
            "history_bytes": view["history_bytes"],
        }))


if __name__ == "__main__":
    main()
