. /workspace/.scenario/context.sh
python3 -m pip install --disable-pip-version-check --no-deps --index-url "$PYPI" --target /workspace/.pkgs arith-bench
cp /workspace/.pkgs/arith_bench/data/test.jsonl data/bench.jsonl && wc -l data/bench.jsonl
