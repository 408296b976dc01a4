"""Events of the run itself (source ``ptaudit``): start, end, verdict, interruptions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .base import EventData


class TestSetIndex(BaseModel):
    """A benchmark's test set as indexed at start (a set that indexes nothing is an error)."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(extra="forbid")

    benchmark: str
    file: str
    sha256: str
    items: int = Field(description="Items (rows) read.")
    indexed_items: int = Field(description="Items with text in at least one indexed field.")
    fields: dict[str, int] = Field(description="Indexed field -> items that have it.")
    chars: int = Field(description="Characters of indexed text.")


class RunStart(EventData):
    """First record of every run: what runs, with which inputs and versions."""

    KIND = "run.start"
    SOURCE = "ptaudit"
    run_id: str
    command: list[str] = Field(default_factory=list, description="The agent command.")
    versions: dict[str, str | None] = Field(default_factory=dict, description="python, ptaudit, runsc, mitmproxy ...")
    task: dict[str, Any] | None = Field(default=None, description="{path, sha256, name} of the task file.")
    policy: dict[str, Any] | None = Field(default=None, description="{path, sha256, name} of the policy file.")
    fail_on: str | None = Field(default=None, description="The policy's fail_on severity.")
    time_limit_s: float | None = Field(default=None, description="The effective time limit.")
    workspace: str | None = Field(default=None, description="Host workspace directory.")
    world: bool | None = Field(default=None, description="A world file maps hosts to local servers.")
    accept_lossy: bool | None = Field(default=None, description="The policy's monitors.accept_lossy: a lossy run may pass.")
    test_sets: list[TestSetIndex] | None = Field(
        default=None, description="Each benchmark's test set as parsed and indexed before the agent started.")


class RunEnd(EventData):
    """Last record of a sealed run."""

    KIND = "run.end"
    SOURCE = "ptaudit"
    exit_status: int | None = Field(default=None, description="ptaudit's exit status.")
    reason: str | None = Field(default=None, description="Why the run ended (agent_exit, time_limit, ...).")
    events_lost: int = Field(default=0, description="Events producers reported lost, in all.")
    artifacts: dict[str, str] | None = Field(
        default=None, description="sha256 of findings.jsonl and honeytokens.json, sealed in the chain itself.")


class RunVerdict(EventData):
    """The findings verdict, written before the log is sealed."""

    KIND = "run.verdict"
    SOURCE = "ptaudit"
    verdict: str
    findings: int = 0
    reason: str | None = None
    agent_exit: dict[str, Any] | None = Field(default=None, description="The sandbox's exit (SandboxResult).")


class RunError(EventData):
    """ptaudit itself failed during the run (the run ends incomplete)."""

    KIND = "run.error"
    SOURCE = "ptaudit"
    error: str
    detail: str | None = Field(default=None, description="More about it, e.g. the tail of mitmdump's log.")


class RunInterrupted(EventData):
    """Ctrl-C (or SIGTERM) number ``count`` reached ptaudit."""

    KIND = "run.interrupted"
    SOURCE = "ptaudit"
    count: int
    signal: str | None = Field(default=None, description="SIGINT or SIGTERM.")


class RunNote(EventData):
    """A remark on the audit's coverage that a report must show (a cap, a skip)."""

    KIND = "run.note"
    SOURCE = "ptaudit"
    note: str = Field(description="One line for the reviewer.")
    detail: dict[str, Any] = Field(default_factory=dict)
