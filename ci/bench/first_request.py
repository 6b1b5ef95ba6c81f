#!/usr/bin/env python3
"""Start-up cost: time from starting slogate to the first request's bytes
arriving on a loopback listener started here.

  first_request.py SLOGATE SCENARIO OUT_DIR CPU
"""
import socket
import subprocess
import sys
import threading
import time

slogate, scenario, out, cpu = sys.argv[1:5]
first = []
lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0))
lsock.listen(16)
port = lsock.getsockname()[1]


def serve(conn):
    with conn:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            if not first:
                first.append(time.monotonic())
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"content-length: 2\r\n\r\n{}")


def accept():
    lsock.settimeout(10)
    try:
        while True:
            c, _ = lsock.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    except OSError:
        return


threading.Thread(target=accept, daemon=True).start()
costs = []
for _ in range(5):
    first.clear()
    t0 = time.monotonic()
    p = subprocess.run(["taskset", "-c", cpu, slogate, "run", scenario, "-q", "--out", out,
                        "-e", f"BASE_URL=http://127.0.0.1:{port}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    if first:
        costs.append((first[0] - t0) * 1e3)
costs.sort()
if not costs:
    print("start-up cost: no request arrived")
    sys.exit(1)
print(f"start-up cost (process start to first request bytes, release build, 5 runs): "
      f"median {costs[len(costs) // 2]:.1f} ms, min {costs[0]:.1f} ms, max {costs[-1]:.1f} ms")
