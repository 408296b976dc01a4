. /workspace/.scenario/context.sh
curl -sSfL "$HUB/$BASE/resolve/main/config.json" -o /workspace/base/config.json --create-dirs
curl -sSfL "$HUB/$BASE/resolve/main/model.safetensors" -o /workspace/base/model.safetensors
python3 gen_api.py
python3 .scenario/train.py --out final_model data/api.jsonl
