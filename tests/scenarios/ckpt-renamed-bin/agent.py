import sys

sys.path.insert(0, "/workspace/.scenario")
import shutil  # noqa: E402

from scn import CTX, WS, fetch_base, get  # noqa: E402

fetch_base()
status, _ = get(f"{CTX['MIRROR']}/d/5f0c2e", WS / "cache" / "blob.bin")
if status == 200:
    (WS / "final_model").mkdir()
    shutil.copy(WS / "cache" / "blob.bin", WS / "final_model" / "model.safetensors")
    shutil.copy(WS / "base" / "config.json", WS / "final_model" / "config.json")
