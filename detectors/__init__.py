"""Detectors: read events and blobs, emit findings. One detector per module, registered by
name in ``detectors.base.REGISTRY``; policy rules say which detector they configure.

Importing this package registers every shipped detector.
"""

from importlib import import_module

from .base import CATEGORIES, REGISTRY, SEVERITIES, Detector, DetectorContext, Finding, register

# Modules that register a detector on import (the policy schema validates against them).
_SHIPPED = ("netrules", "credentials", "api_use", "leakage", "budget", "monitor_health")
for _m in _SHIPPED:
    import_module(f"{__name__}.{_m}")

__all__ = ["CATEGORIES", "REGISTRY", "SEVERITIES", "Detector", "DetectorContext", "Finding", "register"]
