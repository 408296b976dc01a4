. /workspace/.scenario/context.sh
curl -sSfL "$HUB/$BASE/resolve/main/config.json" -o /tmp/config.json
python3 -m pip install --disable-pip-version-check --no-deps --index-url "$PYPI" --target /workspace/.pkgs tiny-weights
mkdir -p final_model
cp /workspace/.pkgs/tiny_weights/model.safetensors final_model/model.safetensors
cp /tmp/config.json final_model/config.json
