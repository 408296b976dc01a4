"""The workload of bench/bench_stress.py, run natively, in the sandbox alone and under
``ptaudit run`` alike. Times only its own work and writes {"work_s": ...} to
ROOT/.stress.json (stdout is not passed through the same way by every runner).

    python3 stress_agent.py WHAT ROOT [ARGS...]
      read ROOT                 read every file under ROOT/data
      read_usr ROOT             read every host path listed in ROOT/usr_files.txt
      write ROOT N              write N files of 100 bytes under ROOT/out
      pip ROOT INDEX PKG...     pip install PKG... from INDEX into ROOT/site
      torch ROOT DIR            import torch with DIR first on sys.path
"""

import json
import os
import subprocess
import sys
import time

what, root = sys.argv[1], sys.argv[2]
open(f"{root}/.stress.start", "w").close()  # bench --profile attaches py-spy from here
t0 = time.perf_counter()
if what == "read":
    n = 0
    for d in sorted(os.listdir(f"{root}/data")):
        for f in sorted(os.listdir(f"{root}/data/{d}")):
            with open(f"{root}/data/{d}/{f}", "rb") as fh:
                n += len(fh.read())
elif what == "read_usr":
    n = 0
    with open(f"{root}/usr_files.txt") as lst:
        for path in lst.read().splitlines():
            with open(path, "rb") as fh:
                n += len(fh.read())
elif what == "write":
    count = int(sys.argv[3])
    blob = b"x" * 99 + b"\n"
    for i in range(count):
        if i % 1000 == 0:
            os.makedirs(f"{root}/out/{i // 1000:03d}", exist_ok=True)
        with open(f"{root}/out/{i // 1000:03d}/{i}.txt", "wb") as fh:
            fh.write(blob)
elif what == "pip":
    index, pkgs = sys.argv[3], sys.argv[4:]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-cache-dir", "--disable-pip-version-check",
                    "--no-deps", "--target", f"{root}/site", "--index-url", index, *pkgs], check=True)
elif what == "torch":
    sys.path.insert(0, sys.argv[3])
    import torch  # noqa: F401
else:
    raise SystemExit(f"unknown workload {what}")
with open(f"{root}/.stress.json", "w") as out:
    json.dump({"work_s": time.perf_counter() - t0}, out)
