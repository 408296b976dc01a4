import sys

sys.path.insert(0, "/workspace/.scenario")
from scn import CTX, HUB, WS, get  # noqa: E402

d = CTX["DATASET"]
get(f"{HUB}/api/datasets/{d}", WS / "notes" / "info.json")
get(f"{HUB}/api/datasets/{d}/tree/main", WS / "notes" / "tree.json")
get(f"{HUB}/datasets/{d}/resolve/main/README.md", WS / "notes" / "README.md")
get(f"{HUB}/api/datasets/{d}/parquet", WS / "notes" / "parquet.json")
get(f"{CTX['VIEWER']}/splits?dataset={d}", WS / "notes" / "splits.json")
