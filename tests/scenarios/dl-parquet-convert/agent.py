import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import CTX, HUB, WS, get  # noqa: E402

rev = "refs%2Fconvert%2Fparquet"
for split in ("train", "test"):
    get(f"{HUB}/datasets/{CTX['DATASET']}/resolve/{rev}/default/{split}/0000.parquet", WS / "data" / f"{split}-conv.parquet")
