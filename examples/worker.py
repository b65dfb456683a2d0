#!/usr/bin/env python3
"""A Hive process agent: a program that lives as long as its agent.

Hive starts it when the agent starts and writes one task per line of JSON on its stdin:

    {"task": "<id>", "input": {...}, "state": <the agent's state>, "attempt": 1}

and, for a task that waited for others, their results by id: "dependencies": {"<id>": ...}.

It answers on stdout, one JSON object per line, naming the task:

    {"task": "<id>", "progress": ...}          any number, before the answer: task.progress events
    {"task": "<id>", "result": ..., "state": ...}  done; "state" (optional) becomes the agent's state
    {"task": "<id>", "result": ..., "send": [...]} done, handing tasks over to other agents:
                                               each {"role"|"agent": ..., "input": {...},
                                               "priority"?, "depends_on"?}, created with the
                                               result in one transaction (at most 100)
    {"task": "<id>", "error": "..."}           failed; retried per the task's max_retries

Anything else on stdout (a line that is not JSON, an answer for another task) crashes the agent:
its supervisor restarts it with a new process. Log to stderr: Hive keeps the last 8 KiB.

This worker keeps a tally of words across tasks in the agent's state:

    {"op": "count_words", "text": "..."}  -> {"words": N, "total": T}
    {"op": "pid"}                         -> {"pid": <this process's id>}
    {"op": "fail", "error": "..."}        -> an error
    {"op": "exit", "code": N}             -> the process exits (a crash of the agent)
    {"op": "sleep", "seconds": S}         -> waits, then answers (for timeouts and cancels)
    {"op": "set_state", "state": ...}     -> the given state becomes the agent's
    {"op": "spawn", "seconds": S}         -> starts a child process and answers its pid
    {"op": "environment"}                 -> the names of its environment variables and its limits
    {"op": "say", "line": "..."}          -> writes that line on stdout as it is (to show what
                                             breaking the protocol does: the agent crashes)
    {"op": "collect"}                     -> the results of the tasks it waited for
    {"op": "hand_off", "send": [...], "result": ...}
                                          -> answers with "send": the tasks it hands over
    {"op": "hand_off_and_die", "send": [...]}
                                          -> starts that answer and exits before its end (a
                                             sender that crashed mid-answer: nothing is sent)
"""

import json
import os
import resource
import subprocess
import sys
import time


def answer(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run(task, op, state, dependencies):
    kind = op.get("op")
    if kind == "count_words":
        words = op.get("text", "").split()
        for i, _ in enumerate(words, 1):
            if i % 1000 == 0:
                answer({"task": task, "progress": {"counted": i, "of": len(words)}})
        state = state if isinstance(state, dict) else {}
        total = state.get("total", 0) + len(words)
        state["total"] = total
        answer({"task": task, "progress": {"counted": len(words), "of": len(words)}})
        answer({"task": task, "result": {"words": len(words), "total": total}, "state": state})
    elif kind == "pid":
        answer({"task": task, "result": {"pid": os.getpid()}})
    elif kind == "fail":
        answer({"task": task, "error": op.get("error", "failed")})
    elif kind == "exit":
        print(f"exiting with {op.get('code', 1)} as task {task} asked", file=sys.stderr, flush=True)
        sys.exit(op.get("code", 1))
    elif kind == "set_state":
        answer({"task": task, "result": None, "state": op.get("state")})
    elif kind == "spawn":
        child = subprocess.Popen(["/bin/sleep", str(op.get("seconds", 600))])
        answer({"task": task, "result": {"pid": child.pid}})
    elif kind == "environment":
        files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        answer({"task": task, "result": {"names": sorted(os.environ), "open_files": files,
                                         "cwd": os.getcwd()}})
    elif kind == "say":
        sys.stdout.write(op.get("line", "") + "\n")
        sys.stdout.flush()
    elif kind == "collect":
        answer({"task": task, "result": dependencies or {}})
    elif kind == "hand_off":
        answer({"task": task, "result": op.get("result"), "send": op.get("send", [])})
    elif kind == "hand_off_and_die":
        whole = json.dumps({"task": task, "result": None, "send": op.get("send", [])})
        sys.stdout.write(whole[: len(whole) // 2])
        sys.stdout.flush()
        os._exit(3)
    elif kind == "sleep":
        time.sleep(float(op.get("seconds", 1)))
        answer({"task": task, "result": {"slept": op.get("seconds", 1)}})
    else:
        answer({"task": task, "error": f"unknown op {kind!r}"})


def main():
    print(f"worker {os.getpid()} ready", file=sys.stderr, flush=True)
    # stdin closes when Hive stops the agent: the loop ends and the process exits.
    for line in sys.stdin:
        message = json.loads(line)
        run(message["task"], message.get("input", {}), message.get("state"),
            message.get("dependencies"))


if __name__ == "__main__":
    main()
