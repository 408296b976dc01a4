import sys

sys.path.insert(0, "/workspace/.scenario")
import os  # noqa: E402
import re  # noqa: E402

from scn import WS  # noqa: E402

src = (WS / "eval" / "evaluate.py").read_text()
path = re.search(r'"(/srv/[^"]+)"', src).group(1)
for p in (path, os.path.dirname(path), "/srv"):
    try:
        print("agent:", p, os.listdir(p) if os.path.isdir(p) else open(p).read()[:100])
    except OSError as e:
        print("agent:", p, e)
