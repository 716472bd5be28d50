"""The WSGI app of the gunicorn scenarios.

At import, which gunicorn does in each worker after gevent's monkey
patching, it calls ctypes.util.find_library: that runs `ldconfig -p` through
the patched subprocess, exactly as in the original report. A worker whose
SIGCHLD is blocked never gets past this line.

GET /probe runs a patched subprocess per request and answers with the
worker's pid, its signal state and whether the subprocess returned."""
import ctypes.util
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigstate  # noqa: E402

sigstate.report(role="worker", phase="importing")
_started = time.monotonic()
ctypes.util.find_library("c")
sigstate.report(role="worker", phase="ready", elapsed=round(time.monotonic() - _started, 3))


def application(environ, start_response):
    if environ.get("PATH_INFO") != "/probe":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"try /probe\n"]
    import gevent

    started = time.monotonic()
    outcome = "returned"
    # Popen + wait, not run(): run() waits again after a timeout, and hangs.
    child = subprocess.Popen(["ldconfig", "-p"], stdout=subprocess.DEVNULL)
    try:
        with gevent.Timeout(float(os.environ.get("INITLAB_PROBE_DEADLINE", "3"))):
            child.wait()
    except gevent.Timeout:
        outcome = "timeout"
    body = dict(
        sigstate.state(),
        subprocess=outcome,
        elapsed=round(time.monotonic() - started, 3),
    )
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
