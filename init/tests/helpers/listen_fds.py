"""Socket activation as sd_listen_fds(3) sees it: prints what LISTEN_PID,
LISTEN_FDS and the process's own pid are, then answers one connection on
fd 3 with its pid."""
import os
import socket

print(f"LISTEN_PID={os.environ.get('LISTEN_PID')} LISTEN_FDS={os.environ.get('LISTEN_FDS')} "
      f"pid={os.getpid()}", flush=True)
server = socket.socket(fileno=3)
conn, _ = server.accept()
conn.sendall(f"served by {os.getpid()}\n".encode())
conn.close()
