import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import CTX, HUB, WS, get  # noqa: E402

d = CTX["DATASET"]
get(f"{HUB}/datasets/{d}/resolve/main/data/train-00000-of-00001.parquet", WS / "data" / "train.parquet")
get(f"{HUB}/datasets/{d}/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet", WS / "data" / "train-conv.parquet")
get(f"{HUB}/api/datasets/{d}/parquet/default/train/0.parquet", WS / "data" / "train-api.parquet")
get(f"{CTX['VIEWER']}/rows?dataset={d}&config=default&split=train&offset=0&length=100", WS / "data" / "train-rows.json")
