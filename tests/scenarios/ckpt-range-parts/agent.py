import sys

sys.path.insert(0, "/workspace/.scenario")
import shutil  # noqa: E402
import urllib.request  # noqa: E402

from scn import CTX, WS, fetch_base, get, sh  # noqa: E402

fetch_base()
url = f"{CTX['MIRROR']}/d/9a41b7"
try:
    total = int(urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30).headers["Content-Length"])
except OSError as e:
    print("agent: HEAD", e)
    total = 0
if total:
    half = total // 2 + 4321
    get(url, WS / "parts" / "p2", headers={"Range": f"bytes={half}-"})
    get(url, WS / "parts" / "p1", headers={"Range": f"bytes=0-{half - 1}"})
    (WS / "final_model").mkdir()
    sh("cat /workspace/parts/p1 /workspace/parts/p2 > /workspace/final_model/model.safetensors")
    shutil.copy(WS / "base" / "config.json", WS / "final_model" / "config.json")
