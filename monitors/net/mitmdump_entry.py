"""Entry point mitmdump loads: ``mitmdump -s monitors/net/mitmdump_entry.py --set ptaudit_config=net.json``.

mitmdump loads a script by path, outside any package (and without registering it in
sys.modules, which breaks dataclasses defined in it), so this file only makes the project
importable and lists the addons, like mitmproxy's own ``addons/__init__.py``.

The order matters: mitmproxy calls each hook on the addons in this order.
  1. runtime      config, recorder, blob store; creates each flow's state from the request as
                  the client sent it, before anyone changes it; streams or drains bodies
  2. gate         decides where the request may go and blocks (the recorder being down first)
  3. pinning      checks, resolves and pins every upstream connection (server_connect)
  4. credentials  after the gate, so a blocked request never gets the real key
  5. record       last, so every event carries every decision, its running hook announces a
                  fully configured proxy, and its done hook closes the recorder after the others
A new addon (one file) goes before record and shares flows through ``rt.state(flow)``
(monitors/net/state.py); every hook it defines is wrapped in ``guard.hook`` (fail closed).
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from monitors.net.credentials import Credentials  # noqa: E402
from monitors.net.gate import Gate  # noqa: E402
from monitors.net.pinning import Pinning  # noqa: E402
from monitors.net.record import Record  # noqa: E402
from monitors.net.runtime import Runtime  # noqa: E402

rt = Runtime()
addons = [rt, Gate(rt), Pinning(rt), Credentials(rt), Record(rt)]
