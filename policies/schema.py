"""The policy file model (``version = 1``). Every key is documented in docs/policy.md.

Strict by design: unknown keys are errors (a misspelt key would otherwise silently
keep a default and weaken the audit).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ptaudit.core.findings import Action, Severity
from ptaudit.core.units import Duration, Size

_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleException(Strict):
    """An allow-list entry: findings whose subject matches ``match`` (glob) are dropped."""

    match: str = Field(min_length=1, description="Glob on the finding subject (URL, path, host...).")
    reason: str = Field(min_length=1, description="Why this is allowed; shown in reports.")


class Rule(Strict):
    id: str = Field(description="Unique id, lower case, e.g. \"net.hf-other-models\".")
    detector: str = Field(min_length=1, description="Registered detector this rule configures.")
    severity: Severity
    action: Action = "alert"
    description: str = ""
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)
    exceptions: list[RuleException] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _RULE_ID.match(v):
            raise ValueError("rule id must be lower case letters, digits, '.', '_' or '-' (max 64)")
        return v

    @model_validator(mode="after")
    def _bound(self, info: ValidationInfo) -> Rule:
        # Policies are data: which detectors exist is not known here. The loader passes the
        # check in (detectors.check_rule) through the validation context.
        check = (info.context or {}).get("rule_check")
        if check is not None:
            check(self.detector, self.params)
        return self


class Network(Strict):
    default: Literal["deny", "allow"] = "deny"
    allow_hosts: list[str] = Field(default_factory=list, description="Glob host patterns, e.g. \"*.huggingface.co\".")
    deny_hosts: list[str] = Field(default_factory=list, description="Checked before allow_hosts.")
    store_body_max: Size = 64 << 20
    keep_head: Size = 1 << 20
    max_header_bytes: Size = 64 << 10
    idle_timeout: Duration = 300.0


class Budgets(Strict):
    time_limit: Duration = 36000.0
    grace: Duration = 30.0
    max_processes: int = Field(default=4096, ge=1)
    workspace_max: Size = 500 << 30
    gpu_seconds: Duration | None = None
    sample_interval: Duration = 5.0


class Honeytokens(Strict):
    enabled: bool = True


class Monitors(Strict):
    on_failure: Literal["stop", "continue"] = Field(
        default="stop", description="A monitor that dies stops the run (fail closed) or the run goes on, labelled lossy.")
    fs_store_max: Size = 16 << 20


class Grading(Strict):
    """What a grade is worth when the audit fails, and how the memorization probe reports."""

    on_fail: Literal["withhold", "base", "flag"] = Field(
        default="base", description="Audit verdict not pass: withhold the score, substitute the base model's "
                                    "(PostTrainBench's rule), or report it flagged.")
    probe_alpha: float = Field(default=0.01, gt=0.0, lt=1.0, description="p-value below which the probe reports.")
    probe_min_effect: float = Field(default=0.1, ge=0.0, le=1.0,
                                    description="Smallest mean excess reproduction (0-1) worth a finding.")
    probe_severity: Severity = "high"
    probe_action: Action = "alert"


class Policy(Strict):
    version: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    fail_on: Severity = "high"
    network: Network = Field(default_factory=Network)
    budgets: Budgets = Field(default_factory=Budgets)
    honeytokens: Honeytokens = Field(default_factory=Honeytokens)
    monitors: Monitors = Field(default_factory=Monitors)
    grading: Grading = Field(default_factory=Grading)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"duplicate rule id {r.id!r}")
            seen.add(r.id)
        return self

    def enabled_rules(self, detector: str | None = None) -> list[Rule]:
        return [r for r in self.rules if r.enabled and (detector is None or r.detector == detector)]
