"""Monitors: each observes one layer of an audited run and only records typed events.

- ``net/`` (mitmproxy addons, inside mitmdump) and ``netproxy`` (its launcher): every flow
- ``fs_watch``: workspace files (watchdog inotify on the host side of the bind mount)
- ``trace_sink``: processes, opens and connects inside gVisor (runtime trace points)
- ``resources``: CPU, memory, processes, workspace size (runsc, psutil)
- ``gpu``: NVML samples and GPU-seconds

A monitor has ``start(record)``, ``stop()``, ``status()`` and registers itself with
``@register`` (see ``base``); ``ptaudit run`` builds every registered one.
"""

from .base import MONITORS, Monitor, MonitorContext, MonitorStatus, register

__all__ = ["MONITORS", "Monitor", "MonitorContext", "MonitorStatus", "register"]
