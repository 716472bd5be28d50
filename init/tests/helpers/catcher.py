"""Handles every signal number given on the command line, prints `ready`,
then one line per signal received; exits once each has arrived once, or
after a deadline. Exit 0 if all arrived."""
import signal
import sys
import time

expected = {int(n) for n in sys.argv[1:]}
seen = set()


def record(signum, frame):
    if signum not in seen:
        seen.add(signum)
        print(f"got {signum}", flush=True)


for n in expected:
    signal.signal(n, record)
print("ready", flush=True)
deadline = time.monotonic() + 20
while seen != expected and time.monotonic() < deadline:
    time.sleep(0.01)
sys.exit(0 if seen == expected else 1)
