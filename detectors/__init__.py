"""Detectors: read events and blobs, emit findings. One detector per module, registered by
decorator (``@register``) under the name a policy rule's ``detector = "..."`` uses.

Nothing is imported here eagerly: the registry imports this package's modules (and the
``ptaudit.detectors`` entry points of installed packages) on first lookup, so a process
that only needs the network rules (mitmdump's addon) never loads the content detectors.
"""

from __future__ import annotations

from pathlib import Path

from policies import Policy
from policies import load_policy as _load_policy

from .base import REGISTRY, Detector, DetectorContext, check_rule, register


def load_policy(path: str | Path) -> Policy:
    """Load a policy file (or shipped name) and check every rule against the registry:
    what the application runs. Errors name the file, the rule and the line."""
    return _load_policy(path, rule_check=check_rule)


__all__ = ["REGISTRY", "Detector", "DetectorContext", "check_rule", "load_policy", "register"]
