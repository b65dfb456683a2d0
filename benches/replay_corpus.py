#!/usr/bin/env python3
"""A small labelled corpus of Hive's own series, from a replay's timeline, in NAB's layout.

    benches/replay_corpus.py TIMELINE.csv OUTDIR

Reads the timeline `hive replay --timeline` writes and keeps the runs with the plugins off (the
load the monitor saw was the trace's own). Every overload series (a class's queue wait, the
orchestrator's and the store's mailbox) of every trace becomes
`OUTDIR/data/<trace>/<series>.csv` (`timestamp,value`, one row a second); each overload onset (the
series reaching its limit after at least 5 s under it) is a labelled window, centred on the onset,
as wide as NAB's (a tenth of the file over the number of onsets). `OUTDIR/combined_windows.json`
holds the windows, so that `hive evaluate --nab OUTDIR` scores the detectors, forecasters and
warnings on it as on NAB.
"""

import collections
import csv
import datetime
import json
import os
import sys

BASE = datetime.datetime(2026, 1, 1)
GAP_S = 5


def OVERLOAD(series):
    """The series whose limit is an overload a client feels, as the replay counts them: a class's
    queue wait past its target, or a mailbox on the submission path full."""
    return series.startswith("wait.") or series in ("mailbox.orchestrator", "mailbox.store")


def stamp(t):
    return (BASE + datetime.timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    timeline, out = sys.argv[1], sys.argv[2]
    series = collections.defaultdict(dict)
    limits = {}
    with open(timeline) as f:
        for row in csv.DictReader(f):
            if row["plugins"] != "off":
                continue
            if not OVERLOAD(row["series"]):
                continue
            key = (row["trace"], row["series"])
            series[key][round(float(row["t"]))] = float(row["last"])
            limits[key] = float(row["limit"])
    windows = {}
    for (trace, name), values in sorted(series.items()):
        seconds = sorted(values)
        rows = [(t, values[t]) for t in range(seconds[0], seconds[-1] + 1) if t in values]
        if len(rows) < 60:
            continue
        limit = limits[(trace, name)]
        onsets, last_under = [], None
        for i, (t, v) in enumerate(rows):
            if v < limit:
                last_under = i
            elif last_under is not None and (not onsets or i - onsets[-1] > GAP_S):
                onsets.append(i)
        path = os.path.join(out, "data", trace, f"{name}.csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "value"])
            for t, v in rows:
                w.writerow([stamp(t), v])
        width = max(1, len(rows) // 10 // max(len(onsets), 1))
        windows[f"{trace}/{name}.csv"] = [
            [stamp(rows[max(0, i - width // 2)][0]), stamp(rows[min(len(rows) - 1, i + width // 2)][0])]
            for i in onsets
        ]
    with open(os.path.join(out, "combined_windows.json"), "w") as f:
        json.dump(windows, f, indent=1)
    labelled = sum(len(w) for w in windows.values())
    print(f"{len(windows)} series, {labelled} labelled overload onsets in {out}")


if __name__ == "__main__":
    main()
