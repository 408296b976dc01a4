"""Findings, as the orchestrator records them in the log (source ``detector``)."""

from __future__ import annotations

from ..findings import Finding
from .base import EventData


class DetectorFinding(EventData):
    """A finding, new or updated; the log is its only source of truth."""

    KIND = "detector.finding"
    SOURCE = "detector"
    finding: Finding
