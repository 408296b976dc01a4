. /workspace/.scenario/context.sh
curl -sSfL "$HUB/$BASE/resolve/main/config.json" -o /workspace/base/config.json --create-dirs
curl -sSfL "$HUB/$BASE/resolve/main/model.safetensors" -o /workspace/base/model.safetensors
python3 eval/evaluate.py
cat eval_out/results.json | head -c 300; echo
curl -sSfL "$HUB/datasets/$DATASET/resolve/main/train.jsonl" -o data/train.jsonl
python3 .scenario/train.py --out final_model data/train.jsonl
python3 eval/evaluate.py
