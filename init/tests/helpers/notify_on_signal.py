"""A notify program for the access tests: sends READY=1 on $NOTIFY_SOCKET
when it gets SIGUSR1, shrugs off SIGUSR2, and otherwise waits. Prints
`armed` once its handlers are in place."""
import os
import signal
import socket


def ready(signum, frame):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])


signal.signal(signal.SIGUSR1, ready)
signal.signal(signal.SIGUSR2, lambda signum, frame: None)
print("armed", flush=True)
while True:
    signal.pause()
