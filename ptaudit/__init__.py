"""ptaudit core: the event model, the hash-chained run log and its recorder, the run
directory, input files (task, world), orchestration, the CLI and reports.

Monitors (``monitors/``), the sandbox (``sandbox/``) and detectors (``detectors/``) only
talk to the core through events: producers emit, the recorder is the single writer of
``events.jsonl``, detectors read it back.
"""

__version__ = "0.1.0"
