"""A recorder in its own process, for tests that kill it (``kill -9`` after acks).

usage: recorder_proc.py RUNDIR [FSIZE_LIMIT]
Creates the run, prints ``SOCKET <path>`` and serves until killed. With FSIZE_LIMIT, the
process may not grow a file beyond that many bytes (RLIMIT_FSIZE): the log's write fails
with EFBIG as on a full disk."""

import resource
import signal
import sys
import time
from pathlib import Path

from ptaudit.core.session import RunSession

if len(sys.argv) > 2:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
s = RunSession.create(Path(sys.argv[1]), command=["recorder_proc"])
print(f"SOCKET {s.socket_path}", flush=True)
while True:
    time.sleep(3600)
