"""An agent that keeps every monitor busy until it is stopped or DURATION seconds pass:
requests through the proxy, workspace files, processes. Runs inside the sandbox (stdlib).

    python3 busy_agent.py DURATION
"""

import os
import subprocess
import sys
import time
import urllib.request

duration = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
t0, i = time.monotonic(), 0
open("/workspace/started", "w").close()
while time.monotonic() - t0 < duration:
    i += 1
    with open(f"/workspace/f{i % 50}.txt", "w") as fh:
        fh.write(f"step {i} " * 50)
    with open("/workspace/tick", "a") as fh:
        fh.write(f"{time.time():.3f}\n")
    subprocess.run(["true"], check=False)
    if i % 3 == 0:
        try:
            with urllib.request.urlopen("https://huggingface.co/api/models/ptaudit-demo/tiny-base", timeout=5) as r:
                r.read()
        except OSError as exc:
            print(f"busy: request failed: {exc}", flush=True)
    time.sleep(0.1)
os.makedirs("/workspace/final_model", exist_ok=True)
print(f"busy: done after {i} steps", flush=True)
