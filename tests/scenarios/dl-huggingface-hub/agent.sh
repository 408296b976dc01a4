. /workspace/.scenario/context.sh
python3 -m pip install -q --disable-pip-version-check --index-url "$PYPI" --target /tmp/venv huggingface_hub
PYTHONPATH=/tmp/venv python3 - <<PY
from huggingface_hub import hf_hub_download
for name in ("train.jsonl", "test.jsonl"):
    print("agent:", hf_hub_download(repo_id="$DATASET", repo_type="dataset", filename=name, local_dir="/workspace/data/hub"))
PY
