"""Entry point mitmdump loads: ``mitmdump -s monitors/net/mitmdump_entry.py --set ptaudit_config=net.json``.

mitmdump loads a script by path, outside any package (and without registering it in
sys.modules, which breaks dataclasses defined in it), so this file only makes the project
importable and hands over to :class:`monitors.net.audit.NetAudit`.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from monitors.net.audit import NetAudit  # noqa: E402

addons = [NetAudit()]
