"""gevent's patched subprocess in a plain script: `ldconfig -p` run the way
ctypes.util.find_library runs it. The wait for the child is driven by
SIGCHLD through a libev child watcher, so with SIGCHLD blocked it never ends.

Reports its state before and after; exits 0 if the call returned within the
deadline (argv[1], seconds), 1 if it hung."""
import os
import sys

from gevent import monkey

monkey.patch_all(subprocess=os.environ.get("INITLAB_PATCH_SUBPROCESS", "1") == "1")

import subprocess  # noqa: E402  (patched above)
import time  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigstate  # noqa: E402

deadline = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
sigstate.report(role="script", phase="start")
started = time.monotonic()
outcome = "returned"
# Popen + wait rather than run(): on a timeout, run() waits for the child
# again on its way out, and that wait would hang for the same reason.
child = subprocess.Popen(["ldconfig", "-p"], stdout=subprocess.DEVNULL)
try:
    with gevent.Timeout(deadline):
        child.wait()
except gevent.Timeout:
    outcome = "timeout"
sigstate.report(
    role="script",
    phase="subprocess",
    subprocess=outcome,
    elapsed=round(time.monotonic() - started, 3),
)
sys.stderr.flush()
os._exit(0 if outcome == "returned" else 1)
