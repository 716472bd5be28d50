"""The calling process's signal state as /proc shows it, for self-reports.

Each report is one line, `initlab-report {json}`, on stderr, so the harness
can find it in a log that gunicorn also writes to."""
import json
import os

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
    # One write(2) for the line and its newline: print() makes two, and
    # master and workers share stderr, so another process's output could
    # land between them.
    os.write(2, ("initlab-report " + json.dumps(line, sort_keys=True) + "\n").encode())
    return line
