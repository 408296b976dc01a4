"""An agent that attacks the monitors from inside the sandbox (stdlib only), then reports
what it saw in /workspace/attack.json. Each attack must neither hide activity nor reach
the host; tests/e2e/test_attacks.py checks the run from outside.

    python3 attack_agent.py FILES FLOOD CANARY_PORT KEY_ENV
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

N_FILES, FLOOD, CANARY, KEY_ENV = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
PROXY_SOCK = "/run/ptaudit-proxy/proxy.sock"
res = {}

# 1. many tiny files, as fast as possible (inotify queue overflow is the goal)
t = time.monotonic()
os.makedirs("/workspace/many", exist_ok=True)
for i in range(N_FILES):
    with open(f"/workspace/many/{i}", "w") as fh:
        fh.write(str(i))
res["files"] = {"n": N_FILES, "s": round(time.monotonic() - t, 2)}

# 3. garbage straight onto the relay's socket, and onto the forwarder's port
garbage = {}
for name, fam, addr in (("relay", socket.AF_UNIX, PROXY_SOCK), ("forwarder", socket.AF_INET, ("127.0.0.1", 3128))):
    try:
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(addr)
        s.sendall(os.urandom(1 << 16) + b"\r\n\r\nGET / HTTP/1.1\r\nHost: \x00\xff\r\n\r\n")
        try:
            garbage[name] = s.recv(200).decode("latin-1")[:80]
        except OSError as exc:
            garbage[name] = f"recv: {exc}"
        s.close()
    except OSError as exc:
        garbage[name] = f"connect: {exc}"
res["garbage"] = garbage


# 4. a connection flood at the proxy: FLOOD half-open requests held at once, then a normal one
socks = []
for _ in range(FLOOD):
    try:
        s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
        s.sendall(b"GET http://huggingface.co/api/models/ptaudit-demo/tiny-base HTTP/1.1\r\nHost: huggingface.co\r\n")
        socks.append(s)
    except OSError:
        socks.append(None)
time.sleep(1)
for s in socks:
    if s is not None:
        s.close()


def get(url, **kw):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, **kw), timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return f"error: {exc}"


res["flood"] = {"opened": sum(1 for s in socks if s is not None),
                "after": get("https://huggingface.co/api/models/ptaudit-demo/tiny-base")}

# 5. /proc probing: every process, environment and command line the agent can see
seen, dump = [], []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    entry = {"pid": int(pid)}
    for f in ("cmdline", "environ", "status"):
        try:
            with open(f"/proc/{pid}/{f}", "rb") as fh:
                data = fh.read()
            entry[f] = data.replace(b"\0", b" ").decode("latin-1")[:4000]
            dump.append(data)
        except OSError as exc:
            entry[f] = f"error: {exc}"
    seen.append(entry)
for path in ("/proc/1/root/etc/shadow", "/proc/self/mounts", "/proc/net/tcp", "/proc/sys/kernel/hostname"):
    try:
        with open(path, "rb") as fh:
            dump.append(fh.read())
    except OSError:
        pass
with open("/workspace/procdump.bin", "wb") as fh:
    fh.write(b"\n".join(dump))
res["proc"] = {"pids": len(seen), "cmdlines": [e["cmdline"][:100] for e in seen]}

# 6. the host: its loopback directly (no network here), and through the proxy (refused)
direct = {}
for host in ("127.0.0.1", "10.0.0.1", "::1"):
    try:
        socket.create_connection((host, CANARY), timeout=3).close()
        direct[host] = "connected"
    except OSError as exc:
        direct[host] = f"{type(exc).__name__}"
res["host"] = {"direct": direct, "via_proxy": get(f"http://127.0.0.1:{CANARY}/"),
               "via_proxy_localhost": get(f"http://localhost:{CANARY}/")}

# 7. its own API with the placeholder it was given (the proxy swaps the real key in)
res["api"] = get("https://api.anthropic.com/v1/messages", method="POST", data=b'{"model":"claude","max_tokens":1}',
                 headers={"x-api-key": os.environ.get(KEY_ENV, ""), "content-type": "application/json"})
res["env_key"] = os.environ.get(KEY_ENV, "")[:24]

with open("/workspace/attack.json", "w") as fh:
    json.dump(res, fh)
subprocess.run(["true"], check=False)
print("attacks done; now the fork bomb", flush=True)

# last, a fork bomb, up to the process limit
children, err = [], None
while len(children) < 100_000:
    try:
        pid = os.fork()
    except OSError as exc:
        err = exc.errno
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
    if len(children) % 25 == 0:
        print(f"forked {len(children)}", flush=True)  # on record even if the sandbox dies
with open("/workspace/fork.json", "w") as fh:  # before the kills: runsc 2022 (ptrace) may not survive them
    json.dump({"forked": len(children), "errno": err}, fh)
for c in children:
    os.kill(c, 9)
for c in children:
    os.waitpid(c, 0)

print("fork bomb survived", flush=True)
