"""A supervised program for config-mode tests.

service.py NAME LOG [--notify] [--linger SECONDS] [--exit-after SECONDS]
Appends `NAME start` to LOG, optionally reports READY=1 on $NOTIFY_SOCKET,
appends `NAME term` on SIGTERM, lingers, appends `NAME exit` and exits 0."""
import os
import signal
import socket
import sys
import time

name, log = sys.argv[1], sys.argv[2]
args = sys.argv[3:]
linger = float(args[args.index("--linger") + 1]) if "--linger" in args else 0.0
exit_after = float(args[args.index("--exit-after") + 1]) if "--exit-after" in args else 30.0


def note(text):
    with open(log, "a") as f:
        f.write(f"{name} {text}\n")


def on_term(signum, frame):
    note("term")
    time.sleep(linger)
    note("exit")
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
note("start")
if "--notify" in args:
    time.sleep(0.3)  # dependants must wait for this, not for the start
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(b"STATUS=warming up\nREADY=1", os.environ["NOTIFY_SOCKET"])
    note("ready")
time.sleep(exit_after)
note("exit")
