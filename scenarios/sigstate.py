"""The calling process's signal state as /proc shows it, for self-reports.

Each report is one line, `initlab-report {json}`, on stderr, so the harness
can find it in a log that gunicorn also writes to."""
import json
import os
import sys

FIELDS = ("SigBlk", "SigIgn", "SigPnd", "ShdPnd", "SigCgt")


def state():
    out = {"pid": os.getpid()}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in FIELDS:
                out[key.lower()] = value.strip()
    return out


def report(**fields):
    line = dict(state(), **fields)
    print("initlab-report " + json.dumps(line, sort_keys=True), file=sys.stderr, flush=True)
    return line
