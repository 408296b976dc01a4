"""gVisor sandbox for audited agents.

Owns: the OCI bundle (read-only root, curated /etc, workspace rw), the
fail-closed egress path (in-sandbox forwarder -> host relay -> audit proxy),
the statx shim, honeytokens, time/size/process limits, and cleanup, including
of sandboxes left by a crashed owner. Its only output is the `emit` callback.
"""
from .config import KillReason, SandboxConfig, SandboxError, SandboxResult
from .doctor import Check, doctor_checks
from .honeytokens import Honeytoken
from .registry import cleanup_stale
from .relay import Relay
from .sandbox import Emit, Output, Sandbox

__all__ = ["Check", "Emit", "Honeytoken", "KillReason", "Output", "Relay", "Sandbox",
           "SandboxConfig", "SandboxError", "SandboxResult", "cleanup_stale", "doctor_checks"]
