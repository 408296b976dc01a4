"""Detectors: read events and blobs, emit findings. One detector per module, registered by
name in ``detectors.base.REGISTRY``; policy rules say which detector they configure.

Importing this package registers every shipped detector.
"""

from .base import CATEGORIES, REGISTRY, SEVERITIES, Detector, DetectorContext, Finding, register

__all__ = ["CATEGORIES", "REGISTRY", "SEVERITIES", "Detector", "DetectorContext", "Finding", "register"]
