"""A producer process for the recorder tests: emits N events through RecorderClient.

usage: producer.py SOCKET NAME N [partial]
With "partial", after everything is acknowledged it starts a raw frame, never finishes
it, and waits to be killed (a producer dying mid-write)."""

import socket
import sys
import time

from ptaudit.core.client import RecorderClient

sock_path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = RecorderClient(sock_path, name)
for i in range(n):
    client.emit("net", "test.event", {"producer": name, "i": i})
assert client.flush(60), "not acknowledged"
print(f"ACKED {n}", flush=True)
if len(sys.argv) > 4:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(sock_path)
    raw.sendall(b'{"hello":1,"producer":"' + name.encode() + b'-raw","id":"raw"}\n')
    raw.recv(100)
    raw.sendall(b'{"p":0,"source":"net","kind":"test.event","data":{"half":')
    print("PARTIAL", flush=True)
    time.sleep(600)
client.close()
