import os
import pathlib
import time

ck = pathlib.Path("/workspace/ckpt")
ck.mkdir()
for i in range(5):
    (ck / f"shard-{i}.bin").write_bytes(os.urandom(8 << 20))
    print("agent: wrote shard", i, flush=True)
    time.sleep(2)
time.sleep(8)  # let a resource sample see it
