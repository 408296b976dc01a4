"""Policies are data: the TOML schema, its strict loader, and the shipped policy files
(``default.toml``, ``strict.toml``) as package data."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import detectors  # noqa: F401  - registers the shipped detectors the schema validates against
from ptaudit.tomlfile import load_model

from .schema import Policy, Rule, RuleException

SHIPPED = ("default", "strict")


def shipped_path(name: str) -> Path:
    return Path(str(resources.files(__package__).joinpath(f"{name}.toml")))


def resolve(path_or_name: str | Path) -> Path:
    """A path, or the name of a shipped policy ("default", "strict")."""
    p = Path(path_or_name)
    if not p.exists() and str(path_or_name) in SHIPPED:
        return shipped_path(str(path_or_name))
    return p


def load_policy(path: str | Path) -> Policy:
    policy, _ = load_model(resolve(path), Policy, "policy")
    return policy


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


__all__ = ["Policy", "Rule", "RuleException", "load_policy", "resolve", "shipped_path", "file_sha256"]
