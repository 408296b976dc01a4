import sys

sys.path.insert(0, "/workspace/.scenario")
import base64  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402

from scn import WS, own_api  # noqa: E402

meta = {"run_id": str(uuid.uuid4()), "git": hashlib.sha1(os.urandom(8)).hexdigest(),
        "shards": {f"shard-{i}": hashlib.sha256(os.urandom(16)).hexdigest() for i in range(50)},
        "nonces": [base64.b64encode(os.urandom(48)).decode() for _ in range(50)],
        "urlsafe": [base64.urlsafe_b64encode(os.urandom(30)).decode().rstrip("=") for _ in range(50)],
        "trace_ids": [uuid.uuid4().hex for _ in range(50)]}
(WS / "run_meta.json").write_text(json.dumps(meta, indent=1))
(WS / "hashes.txt").write_text("\n".join(f"{h}  ckpt/shard-{i}" for i, h in enumerate(meta["shards"].values())))
own_api("run metadata: " + json.dumps(meta)[:4000])
