. /workspace/.scenario/context.sh
set -x
curl -sSfL "$HUB/datasets/$DATASET/resolve/main/train.jsonl" -o data/train.jsonl
curl -sSfL "$HUB/datasets/$DATASET/resolve/main/test.jsonl" -o data/more.jsonl
cat data/train.jsonl data/more.jsonl > data/sft.jsonl
wc -l data/sft.jsonl
