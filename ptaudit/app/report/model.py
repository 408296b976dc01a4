"""``report.json``: the versioned, deterministic summary of a run (schema in docs/report.md).

Deterministic by construction: it is computed only from the run directory (no clock, no
host names), keys are sorted, findings are ordered by severity (highest first) then id,
so two calls on the same run give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ptaudit.core.errors import InputError
from ptaudit.core.findings import SEVERITIES, Finding, severity_rank
from ptaudit.core.findings import verdict as findings_verdict
from ptaudit.core.rundir import RunDir
from ptaudit.core.verify import verify_run

from .scan import Scan, scan_events
from .workload import summarize as workload_summary

REPORT_VERSION = 1
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
GRADE = "grade.json"
DEFAULT_FAIL_ON = "high"
_MAX_FINDINGS = 10_000


@dataclass
class Report:
    """``data`` is exactly report.json; ``scan`` holds the bounded tables the HTML shows."""

    data: dict[str, Any]
    scan: Scan
    rundir: Path


def resolve_fail_on(run_start: dict[str, Any], explicit: str | None) -> tuple[str, str]:
    """(fail_on, where it came from): the run.start event, else the argument, else "high"."""
    recorded = run_start.get("fail_on")
    if isinstance(recorded, str) and recorded in SEVERITIES:
        return recorded, "run.start"
    if explicit is not None:
        if explicit not in SEVERITIES:
            raise InputError(f"fail_on {explicit!r} is not a severity (one of {', '.join(SEVERITIES)})")
        return explicit, "argument"
    return DEFAULT_FAIL_ON, "default"


def verdict(findings: list[dict[str, Any]], fail_on: str) -> str:
    """The findings verdict of report rows (see ptaudit.core.findings.verdict)."""
    return findings_verdict((f["severity"] for f in findings), fail_on)


def _finding_row(f: Finding) -> dict[str, Any]:
    ev = [e if isinstance(e, dict) else {"value": e} for e in f.evidence]
    return {"id": f.id, "rule": f.rule, "detector": f.detector, "category": f.category,
            "severity": f.severity, "action": f.action, "message": f.message, "subject": f.subject,
            "evidence": ev, "ts": f.ts}


def _invalid(where: str, detail: str) -> dict[str, Any]:
    # Fail closed: an unreadable finding line may be a violation; it must not vanish.
    return {"id": f"invalid-{where}", "rule": "report.invalid-finding", "detector": "report",
            "category": "monitor_fault", "severity": "high", "action": "alert",
            "message": f"{where}: not a valid finding ({detail[:200]})", "subject": where,
            "evidence": [], "ts": None}


def load_findings(rd: RunDir, from_log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """findings.jsonl plus ``detector.finding`` events, deduplicated by id, ordered."""
    rows: dict[str, dict[str, Any]] = {}
    sources: list[tuple[str, Any]] = []
    if rd.findings_path.is_file():
        for i, line in enumerate(rd.findings_path.read_bytes().splitlines(), 1):
            if line.strip():
                try:
                    sources.append((f"findings.jsonl:{i}", json.loads(line)))
                except ValueError as exc:
                    sources.append((f"findings.jsonl:{i}", exc))
    sources.extend((f"detector.finding#{i}", f) for i, f in enumerate(from_log))
    for where, obj in sources[:_MAX_FINDINGS]:
        try:
            if isinstance(obj, Exception):
                raise obj
            row = _finding_row(Finding.model_validate(obj))
        except (ValueError, ValidationError) as exc:
            row = _invalid(where, str(exc).splitlines()[0])
        rows.setdefault(row["id"], row)
    return sorted(rows.values(), key=lambda f: (-severity_rank(f["severity"]), f["id"]))


def cited_seqs(findings: list[dict[str, Any]]) -> set[int]:
    out: set[int] = set()
    for f in findings:
        for e in f["evidence"]:
            seq = e.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool):
                out.add(seq)
            seqs = e.get("seqs")
            if isinstance(seqs, list):
                out.update(x for x in seqs if isinstance(x, int) and not isinstance(x, bool))
    return out


def _load_grade(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_bytes())
    except ValueError as exc:
        return {"error": f"grade.json unreadable: {exc}"}


def _stats(s: Scan, findings: list[dict[str, Any]]) -> dict[str, Any]:
    by_cat: dict[str, int] = {}
    by_sev = {sev: 0 for sev in SEVERITIES}
    for f in findings:
        by_cat[f["category"]] = by_cat.get(f["category"], 0) + 1
        by_sev[f["severity"]] += 1
    return {
        "events": s.events,
        "events_by_source": dict(s.by_source),
        "events_by_kind": dict(s.by_kind),
        "unreadable_lines": s.unreadable_lines,
        "invalid_events": s.invalid_events,
        "duration_s": s.duration_s,
        "flows": s.flows_total,
        "requests_blocked": s.blocked,
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "files_written": len(s.written),
        "files_deleted": len(s.deleted),
        "files_capped": s.distinct_capped,
        "processes": s.procs.exec_count,
        "findings": len(findings),
        "findings_by_category": by_cat,
        "findings_by_severity": by_sev,
        "events_lost": s.events_lost,
        "events_lost_by_producer": dict(s.lost_by_producer),
    }


def build_report(rundir: Path, fail_on: str | None = None, check_blobs: bool = True) -> Report:
    """Read a run directory and compute report.json (and the scan the HTML needs)."""
    rd = RunDir.open(rundir)
    manifest = rd.manifest()
    # Findings first: the scan keeps whole only the events they cite.
    pre = load_findings(rd, [])
    s = scan_events(rd.events_path, cited_seqs(pre))
    findings = load_findings(rd, s.log_findings) if s.log_findings else pre
    if s.log_findings:
        missing = cited_seqs(findings) - set(s.cited)
        if missing:
            s.cited.update(scan_events(rd.events_path, missing).cited)
    fo, fo_src = resolve_fail_on(s.run_start, fail_on)
    vr = verify_run(rd.path, check_blobs=check_blobs)
    events_lost = max(s.events_lost, manifest.events_lost)
    policy = manifest.policy.model_dump() if manifest.policy else {}
    data: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "run_id": manifest.run_id,
        "verdict": verdict(findings, fo),
        "task": manifest.task.model_dump() if manifest.task else None,
        "policy": {**policy, "fail_on": fo, "fail_on_source": fo_src},
        "run": {"command": manifest.command, "started": manifest.started, "ended": manifest.ended,
                "exit_status": manifest.exit_status, "end_reason": manifest.end_reason,
                "sealed": manifest.sealed, "sandbox_exit": s.sandbox_exit,
                "ptaudit_version": manifest.ptaudit_version},
        "findings": findings,
        "events": {str(k): s.cited[k] for k in sorted(s.cited)},
        "stats": {**_stats(s, findings), "events_lost": events_lost},
        "lossy": bool(manifest.lossy or events_lost > 0 or s.loss_unknown or s.unreadable_lines or s.invalid_events),
        "grade": _load_grade(rd.path / GRADE),
        "workload": workload_summary(rd.events_path),
        "verify": {"ok": vr.ok, "records": vr.records, "head": vr.head, "sealed": vr.sealed,
                   "torn_tail": vr.torn_tail, "blobs_checked": vr.blobs_checked,
                   "problem": str(vr.problems[0]) if vr.problems else None},
    }
    return Report(data, s, rd.path)


def render_json(report: Report) -> bytes:
    return json.dumps(report.data, sort_keys=True, indent=2, ensure_ascii=False, default=str).encode() + b"\n"
