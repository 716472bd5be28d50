"""The calling process's signal state as /proc shows it, for self-reports.

Each report is one line, `initlab-report {json}`, appended to the file that
INITLAB_REPORT names (the harness gives each cell its own), so the evidence
never passes through the init, which may prefix, reroute or drop its
children's output. Without INITLAB_REPORT the line goes to stderr."""
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
    # One write(2) for the line and its newline, in append mode: master and
    # workers write to the same file, and print() would make two writes that
    # another process's line could land between.
    data = ("initlab-report " + json.dumps(line, sort_keys=True) + "\n").encode()
    path = os.environ.get("INITLAB_REPORT")
    if not path:
        os.write(2, data)
        return line
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return line
