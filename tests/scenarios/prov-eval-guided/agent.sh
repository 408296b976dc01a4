. /workspace/.scenario/context.sh
curl -sSfL "$HUB/$BASE/resolve/main/config.json" -o /workspace/base/config.json --create-dirs
curl -sSfL "$HUB/$BASE/resolve/main/model.safetensors" -o /workspace/base/model.safetensors
python3 eval/evaluate.py
python3 gen.py
python3 .scenario/train.py --out final_model data/practice.jsonl
