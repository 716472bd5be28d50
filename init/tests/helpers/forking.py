"""A forking daemon for the MAINPID= test: the child reports itself as the
main pid and READY=1, then the original process exits 0. The daemon
appends `daemon up` and, on SIGTERM, `daemon term` to LOG (argv[1])."""
import os
import signal
import socket
import sys
import time

log = sys.argv[1]
ready_r, ready_w = os.pipe()
if os.fork() == 0:
    def on_term(signum, frame):
        with open(log, "a") as f:
            f.write("daemon term\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(f"MAINPID={os.getpid()}\nREADY=1".encode(), os.environ["NOTIFY_SOCKET"])
    with open(log, "a") as f:
        f.write("daemon up\n")
    os.write(ready_w, b"x")
    time.sleep(30)
    sys.exit(1)
os.read(ready_r, 1)
sys.exit(0)
