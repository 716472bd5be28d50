"""The cinit issue-38 regression test: install a SIGCHLD handler, fork a child
that exits at once, and report whether the handler ran within a deadline.
Exit 0 if SIGCHLD was delivered, 1 if not."""
import os
import signal
import sys
import time

got = []
signal.signal(signal.SIGCHLD, lambda signum, frame: got.append(signum))
pid = os.fork()
if pid == 0:
    os._exit(0)
deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 2)
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
os.waitpid(pid, 0)
print("SIGCHLD delivered" if got else "SIGCHLD NOT delivered", flush=True)
sys.exit(0 if got else 1)
