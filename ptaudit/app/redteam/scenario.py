"""The scenario file (``scenario.toml``) and the suite: one directory per scenario.

Strict like every ptaudit input: an unknown key, a wrong type, a category that does not
exist, a missing agent or world file is an error naming the file, the key and the line.
The format is documented in docs/redteam.md.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ptaudit.core.errors import InputError
from ptaudit.core.findings import Category
from ptaudit.core.task import Task
from ptaudit.core.tomlfile import NestedError, load_model

SCENARIO_FILE = "scenario.toml"
POLICIES = ("default", "strict", "open")  # the shipped policies a scenario can claim


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_source(src: str, info: ValidationInfo) -> str:
    """``@artifact`` (a file of the base world) or a path inside the scenario directory."""
    ctx = info.context or {}
    if src.startswith("@"):
        known = ctx.get("artifacts")
        if known is not None and src[1:] not in known:
            raise ValueError(f"unknown artifact {src!r} (known: {', '.join('@' + a for a in sorted(known))})")
        return src
    p = Path(src)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"{src!r}: a path inside the scenario directory, or @artifact")
    d = ctx.get("dir")
    if d is not None and not (d / p).is_file():
        raise ValueError(f"{src!r}: no such file in {d}")
    return src


class RepoAddition(Strict):
    id: str = Field(description="Hub id org/name.")
    kind: Literal["model", "dataset"] = "model"
    files: dict[str, str] = Field(min_length=1, description="path in the repo -> source")
    revisions: dict[str, dict[str, str]] = Field(default_factory=dict, description="revision -> {path: source}")

    @field_validator("files")
    @classmethod
    def _files(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return {k: _check_source(s, info) for k, s in v.items()}

    @field_validator("revisions")
    @classmethod
    def _revs(cls, v: dict[str, dict[str, str]], info: ValidationInfo) -> dict[str, dict[str, str]]:
        return {r: {k: _check_source(s, info) for k, s in fs.items()} for r, fs in v.items()}


class PackageAddition(Strict):
    name: str = Field(min_length=1, description="PyPI project name.")
    files: dict[str, str] = Field(min_length=1, description="path in the wheel -> source")

    @field_validator("files")
    @classmethod
    def _files(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return {k: _check_source(s, info) for k, s in v.items()}


class WorldAdditions(Strict):
    repos: list[RepoAddition] = Field(default_factory=list, description="Hub repos added (or replacing a base one).")
    packages: list[PackageAddition] = Field(default_factory=list, description="PyPI projects added.")
    hosts: dict[str, dict[str, str]] = Field(default_factory=dict, description="plain file hosts: host -> {path: source}")

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: dict[str, dict[str, str]], info: ValidationInfo) -> dict[str, dict[str, str]]:
        for host, files in v.items():
            if host != host.lower() or "/" in host or ":" in host:
                raise ValueError(f"{host!r}: a lower-case host name without port or path")
            for path, src in files.items():
                if not path.startswith("/"):
                    raise ValueError(f"{host}: {path!r} must start with /")
                _check_source(src, info)
        return v


class IfBlocked(Strict):
    """When the proxy refused a request matching ``urls``, what could still be seen."""

    urls: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="globs on the refused URLs")
    categories: list[Category] = Field(description="the categories that must appear instead")


class Expect(Strict):
    categories: list[Category] = Field(default_factory=list, description="categories that must appear (attacks)")
    if_blocked: IfBlocked | None = None


class Scenario(Strict):
    kind: Literal["attack", "benign"]
    summary: str = Field(min_length=1)
    group: str = Field(default="", description="family shown in the tables, e.g. test-split downloads")
    agent: str = Field(description="agent script in this directory: .py (python3) or .sh (sh)")
    claims: list[Literal["default", "strict", "open"]] = Field(
        default_factory=lambda: list(POLICIES),
        description="shipped policies under which it must pass (attacks caught, benign clean)")
    task: dict[str, Any] = Field(default_factory=dict, description="additions to the base task (merged)")
    world: WorldAdditions = Field(default_factory=WorldAdditions)
    expect: Expect = Field(default_factory=Expect)
    # set by the loader
    name: str = Field(default="", exclude=True)
    dir: Path = Field(default=Path(), exclude=True)

    @field_validator("agent")
    @classmethod
    def _agent(cls, v: str, info: ValidationInfo) -> str:
        if not v.endswith((".py", ".sh")) or "/" in v:
            raise ValueError(f"{v!r}: a .py or .sh file in the scenario directory")
        d = (info.context or {}).get("dir")
        if d is not None and not (d / v).is_file():
            raise ValueError(f"{v!r}: no such file in {d}")
        return v

    @field_validator("task")
    @classmethod
    def _task(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        base = (info.context or {}).get("base_task")
        if base is not None:
            try:
                Task.model_validate(merge(base, v))
            except ValidationError as exc:
                e = exc.errors()[0]
                raise NestedError(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")
                                  if e["type"] != "extra_forbidden" else f'unknown task key "{e["loc"][-1]}"') from None
        return v

    @model_validator(mode="after")
    def _kind(self) -> Scenario:
        if self.kind == "attack" and not self.expect.categories:
            raise ValueError("an attack scenario needs expect.categories (what a correct audit must report)")
        if self.kind == "benign" and (self.expect.categories or self.expect.if_blocked):
            raise ValueError("a benign scenario expects no finding: leave expect empty")
        return self

    def expected(self, blocked_urls: list[str]) -> tuple[list[str], bool]:
        """The categories that must appear in a run that refused ``blocked_urls``, and
        whether ``if_blocked`` decided them."""
        ib = self.expect.if_blocked
        if ib is not None and any(fnmatch.fnmatchcase(u, g) for u in blocked_urls for g in ib.urls):
            return list(ib.categories), True
        return list(self.expect.categories), False


def merge(base: dict[str, Any], add: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the base's."""
    out = dict(base)
    for k, v in add.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_scenario(d: Path, context: dict[str, Any] | None = None) -> Scenario:
    scn, _ = load_model(d / SCENARIO_FILE, Scenario, "scenario", context={**(context or {}), "dir": d})
    scn.name, scn.dir = d.name, d
    return scn


def load_suite(root: Path, only: list[str] | None = None, context: dict[str, Any] | None = None) -> list[Scenario]:
    """Every directory under ``root`` holding a scenario.toml, by name; ``only`` keeps the
    names matching any of its globs. All files are validated before anything runs."""
    if not root.is_dir():
        raise InputError(f"{root}: no such scenario directory")
    dirs = sorted(p.parent for p in root.glob(f"*/{SCENARIO_FILE}"))
    if only:
        dirs = [d for d in dirs if any(fnmatch.fnmatchcase(d.name, g) for g in only)]
        if not dirs:
            raise InputError(f"--only {','.join(only)}: no scenario under {root} matches")
    errors, out = [], []
    for d in dirs:
        try:
            out.append(load_scenario(d, context))
        except InputError as exc:
            errors.append(str(exc))
    if errors:
        raise InputError("\n".join(errors))
    if not out:
        raise InputError(f"{root}: no scenarios (directories with a {SCENARIO_FILE})")
    return out
