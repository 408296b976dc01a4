. /workspace/.scenario/context.sh
set -e
for f in config.json model.safetensors README.md; do
  curl -sSfL "$HUB/$BASE/resolve/main/$f" -o "base/$f" --create-dirs
done
curl -sSfL "$HUB/datasets/$DATASET/resolve/main/train.jsonl" -o data/train.jsonl
python3 .scenario/train.py --out final_model data/train.jsonl
python3 eval/evaluate.py
