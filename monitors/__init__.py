"""Monitors: each observes one layer of an audited run and only emits events.

- ``net_addon``/``net_audit`` (inside mitmdump) and ``netproxy`` (its launcher): every flow
- ``fs_watch``: workspace files (watchdog inotify on the host side of the bind mount)
- ``trace_sink``: processes, opens and connects inside gVisor (runtime trace points)
- ``resources``: CPU, memory, processes, workspace size (runsc, psutil)
- ``gpu``: NVML samples and GPU-seconds
- ``proctree``: rebuilds the process tree from proc.* events (attribution in reports)

A monitor has ``start(emit)``, ``stop()``, ``status()`` (see ``base``).
"""

from .base import Monitor, MonitorStatus

__all__ = ["Monitor", "MonitorStatus"]
