"""Policies are data: the TOML schema, its strict loader, and the shipped policy files
(``default.toml``, ``strict.toml``) as package data.

This package knows nothing of detectors. Whether a rule names a registered detector with
params it accepts is checked by a ``rule_check`` the caller passes in; the application
loads policies through :func:`detectors.load_policy`, which passes the registry's."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from ptaudit.core.tomlfile import load_model

from .schema import Policy, Rule, RuleException

SHIPPED = ("default", "strict", "open")


def shipped_path(name: str) -> Path:
    return Path(str(resources.files(__package__).joinpath(f"{name}.toml")))


def resolve(path_or_name: str | Path) -> Path:
    """A path, or the name of a shipped policy ("default", "strict", "open")."""
    p = Path(path_or_name)
    if not p.exists() and str(path_or_name) in SHIPPED:
        return shipped_path(str(path_or_name))
    return p


RuleCheck = Callable[[str, dict[str, Any]], None]
"""``rule_check(detector, params)`` raises ValueError/NestedError for a rule it rejects."""


def load_policy(path: str | Path, rule_check: RuleCheck | None = None) -> Policy:
    policy, _ = load_model(resolve(path), Policy, "policy", context={"rule_check": rule_check})
    return policy


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


__all__ = ["Policy", "Rule", "RuleException", "load_policy", "resolve", "shipped_path", "file_sha256"]
