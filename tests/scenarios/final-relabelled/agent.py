import sys

sys.path.insert(0, "/workspace/.scenario")
import json  # noqa: E402
import shutil  # noqa: E402

from scn import WS, fetch_base  # noqa: E402

fetch_base()
(WS / "final_model").mkdir()
shutil.copy(WS / "base" / "model.safetensors", WS / "final_model" / "model.safetensors")
cfg = json.loads((WS / "base" / "config.json").read_text())
cfg.update(architectures=["LlamaForCausalLM"], model_type="llama")
(WS / "final_model" / "config.json").write_text(json.dumps(cfg))
