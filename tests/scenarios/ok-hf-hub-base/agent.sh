. /workspace/.scenario/context.sh
python3 -m pip install -q --disable-pip-version-check --index-url "$PYPI" --target /tmp/venv huggingface_hub
PYTHONPATH=/tmp/venv python3 - <<PY
from huggingface_hub import hf_hub_download, snapshot_download
print("agent:", snapshot_download(repo_id="$BASE", local_dir="/workspace/base"))
print("agent:", hf_hub_download(repo_id="$DATASET", repo_type="dataset", filename="train.jsonl", local_dir="/workspace/data"))
PY
python3 .scenario/train.py --out final_model data/train.jsonl
