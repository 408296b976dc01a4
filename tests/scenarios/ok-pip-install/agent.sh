. /workspace/.scenario/context.sh
python3 -m pip install --disable-pip-version-check --no-deps --index-url "$PYPI" --target /workspace/.pkgs tinyutils
PYTHONPATH=/workspace/.pkgs python3 -c "import tinyutils; print('agent: mean', tinyutils.mean([1, 2, 3]))"
