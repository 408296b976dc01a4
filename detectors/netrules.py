"""Network rule logic: host matching, URL rules (``net.url``) and content rules (``net.content``).

Pure functions and parameter models, shared by the mitmproxy addon (inline enforcement,
monitors/net/mitmdump_entry.py) and by replay, so a rule decides the same way live and offline.
The two registered detectors turn recorded ``net.request`` / ``net.response`` events into
findings; the addon blocks inline when a rule's action is ``block`` or ``kill``.

Host patterns are ``fnmatch`` globs matched case-insensitively against the bare host
name: ``*.huggingface.co`` does *not* match ``huggingface.co`` itself (list both). This is
deliberate: a pattern means exactly what fnmatch says, so a reviewer never has to know
extra rules to read a policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from detectors.base import Category, Detector, DetectorContext, Finding, register
from ptaudit.core.events import Event, NetRequest, NetResponse
from ptaudit.core.sniff import WEIGHT_KINDS

# Sniffed types that mean "model weights" (the default of ContentParams.kinds).
# File name endings that announce weights before a byte arrives (response-headers stage).
WEIGHT_EXTENSIONS = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".npz", ".h5", ".onnx")


# -- hosts ----------------------------------------------------------------------------
def host_in(host: str, patterns: Iterable[str]) -> str | None:
    """The first pattern matching ``host`` (case-insensitive fnmatch), or None."""
    h = host.lower().rstrip(".")
    for p in patterns:
        if fnmatchcase(h, p.lower()):
            return p
    return None


@dataclass(frozen=True)
class HostDecision:
    allowed: bool
    rule: str  # "network.deny_hosts" | "network.allow_hosts" | "network.default"
    pattern: str | None
    reason: str


def host_decision(host: str, default: str, allow_hosts: Sequence[str], deny_hosts: Sequence[str]) -> HostDecision:
    """Policy order: deny_hosts, then allow_hosts, then the default."""
    if (p := host_in(host, deny_hosts)) is not None:
        return HostDecision(False, "network.deny_hosts", p, f"host {host} matches deny_hosts pattern {p!r}")
    if (p := host_in(host, allow_hosts)) is not None:
        return HostDecision(True, "network.allow_hosts", p, f"host {host} matches allow_hosts pattern {p!r}")
    if default == "allow":
        return HostDecision(True, "network.default", None, "default allow")
    return HostDecision(False, "network.default", None, f"host {host} is not in allow_hosts (default deny)")


# -- Hugging Face Hub URLs --------------------------------------------------------------
HubKind = Literal["model", "dataset", "space"]


def hub_repo(path: str) -> tuple[HubKind, str] | None:
    """(kind, "org/name") a Hub URL path refers to, or None.

    Knows the API forms (``/api/models/o/n[/...]``, ``/api/datasets/...``) and the file
    forms (``/o/n/resolve/...``, ``/datasets/o/n/resolve/...``). Single-segment legacy
    ids (``/gpt2/resolve/main/x``) are reported as ``gpt2``.
    """
    parts = [unquote(p) for p in path.split("?")[0].split("/") if p]
    if len(parts) >= 3 and parts[0] == "api" and parts[1] in ("models", "datasets", "spaces"):
        kind: HubKind = {"models": "model", "datasets": "dataset", "spaces": "space"}[parts[1]]  # type: ignore[assignment]
        rest = parts[2:]
        return kind, "/".join(rest[:2]) if len(rest) >= 2 and rest[1] not in _API_VERBS else rest[0]
    kind = "model"
    if parts and parts[0] in ("datasets", "spaces"):
        kind = "dataset" if parts[0] == "datasets" else "space"
        parts = parts[1:]
    for i, verb in enumerate(parts[:3]):
        if verb in ("resolve", "blob", "raw", "tree") and i in (1, 2):
            return kind, "/".join(parts[:i])
    return None


_API_VERBS = ("revision", "tree", "resolve", "paths-info", "refs", "commits", "preupload", "commit", "parquet")


# -- URL rules --------------------------------------------------------------------------
class UrlParams(BaseModel):
    """Params of a ``net.url`` rule. All given conditions must hold for a match."""

    model_config = ConfigDict(extra="forbid")

    methods: list[str] = Field(default_factory=list, description="HTTP methods (upper case); empty: any.")
    hosts: list[str] = Field(default_factory=list, description="Host globs; empty: any host.")
    paths: list[str] = Field(default_factory=list, description="Path globs (no query); empty: any path.")
    hub: HubKind | None = Field(default=None, description="Only URLs naming a Hub repo of this kind.")
    except_repos: list[str] = Field(
        default_factory=list, description="Hub repo id globs not covered; {base_model} is the task's base model.")
    repos: list[str] = Field(default_factory=list, description="Only these Hub repo id globs; empty: any repo.")
    category: Category = "checkpoint_download"


@dataclass(frozen=True)
class RuleMatch:
    rule: str
    reason: str
    subject: str
    repo: str | None = None


def _expand(patterns: Iterable[str], base_model: str | None) -> list[str]:
    return [p.replace("{base_model}", base_model or "\0none") for p in patterns]


def match_url(rule_id: str, params: UrlParams, method: str, url: str, base_model: str | None = None) -> RuleMatch | None:
    """Does a request match a ``net.url`` rule? ``url`` is the original (client-side) URL."""
    u = urlsplit(url)
    host, path = (u.hostname or "").lower(), u.path or "/"
    if params.methods and method.upper() not in {m.upper() for m in params.methods}:
        return None
    if params.hosts and host_in(host, params.hosts) is None:
        return None
    if params.paths and not any(fnmatchcase(path, p) for p in params.paths):
        return None
    repo, kind = None, ""
    if params.hub or params.repos or params.except_repos:
        found = hub_repo(path)
        if found is None or (params.hub and found[0] != params.hub):
            return None
        kind, repo = found
        if params.repos and not any(fnmatchcase(repo, p) for p in _expand(params.repos, base_model)):
            return None
        if any(fnmatchcase(repo, p) for p in _expand(params.except_repos, base_model)):
            return None
    what = f"{kind} repo {repo}" if repo else f"{method} {host}{path}"
    return RuleMatch(rule_id, f"{what} is covered by rule {rule_id}", url, repo)


# -- content rules -------------------------------------------------------------------------
class ContentParams(BaseModel):
    """Params of a ``net.content`` rule: bodies that look like ``kinds``."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[str] = Field(default_factory=lambda: list(WEIGHT_KINDS), description="Sniffed types that match.")
    extensions: list[str] = Field(
        default_factory=lambda: list(WEIGHT_EXTENSIONS), description="URL/filename endings that match at headers.")
    hosts: list[str] = Field(default_factory=list, description="Host globs covered; empty: any.")
    except_hosts: list[str] = Field(default_factory=list, description="Host globs not covered.")
    min_bytes: int = Field(default=0, ge=0, description="Ignore bodies announced smaller than this.")
    category: Category = "checkpoint_download"


def _content_scope(params: ContentParams, host: str) -> bool:
    if params.hosts and host_in(host, params.hosts) is None:
        return False
    return host_in(host, params.except_hosts) is None


def match_content_headers(rule_id: str, params: ContentParams, url: str, headers: dict[str, str],
                          size: int | None) -> RuleMatch | None:
    """Decide at response headers: a weight-like file name in the URL or Content-Disposition."""
    u = urlsplit(url)
    if not _content_scope(params, (u.hostname or "").lower()):
        return None
    if size is not None and size < params.min_bytes:
        return None
    names = [unquote(u.path).lower(), headers.get("content-disposition", "").lower().rstrip('"; ')]
    for ext in params.extensions:
        if any(n.endswith(ext.lower()) for n in names):
            return RuleMatch(rule_id, f"response file name ends with {ext} (rule {rule_id})", url)
    return None


def match_content_kind(rule_id: str, params: ContentParams, url: str, kind: str | None,
                       size: int | None = None) -> RuleMatch | None:
    """Decide on the sniffed first bytes of a body."""
    host = (urlsplit(url).hostname or "").lower()
    if kind is None or kind not in params.kinds or not _content_scope(params, host):
        return None
    if size is not None and size < params.min_bytes:
        return None
    return RuleMatch(rule_id, f"response body is {kind} (rule {rule_id})", url)


# -- detectors (replay and live findings) ------------------------------------------------------
def _base_model(ctx: DetectorContext) -> str | None:
    return ctx.task.base_model if ctx.task is not None else ctx.extra.get("base_model")


@register
class UrlRuleDetector(Detector):
    """Flags requests matching a ``net.url`` rule (e.g. Hub model repos other than the base).

    Does not flag: traffic the rule's params do not name; files fetched from a CDN after a
    redirect (the Hub request before it is what matches). False positives: Hub URLs that
    merely list or search repos are matched like downloads when ``paths`` is left empty.
    """

    name = "net.url"
    kinds = (NetRequest,)
    Params = UrlParams

    def on_event(self, event: Event) -> Iterable[Finding]:
        p = event.payload
        if not isinstance(p, NetRequest):
            return
        m = match_url(self.rule.id, self.params, p.method, p.url, _base_model(self.ctx))
        if m is None:
            return
        blocked = p.blocked
        f = self.finding(self.params.category, m.subject, m.reason + (" (blocked)" if blocked else ""),
                         [{"seq": event.seq, "url": m.subject, "repo": m.repo}], ts=event.ts)
        if f is not None:
            yield f


@register
class ContentRuleDetector(Detector):
    """Flags responses whose body sniffs as (or whose file name announces) model weights,
    and refused requests whose URL names a weights file (the refused request is evidence:
    the agent tried to fetch a checkpoint).

    Does not flag: weights inside archives the sniffer does not open (tar, zip of
    safetensors), compressed transfer encodings, xet chunk streams (hf_xet), refused
    requests for opaque URLs. False positives: any ``.bin`` file from a covered host.
    """

    name = "net.content"
    kinds = (NetRequest, NetResponse)
    Params = ContentParams

    def on_event(self, event: Event) -> Iterable[Finding]:
        p = event.payload
        if isinstance(p, NetRequest):
            if not p.blocked:
                return  # its response decides
            m = match_content_headers(self.rule.id, self.params, p.url, {}, None)
            if m is None:
                return
            f = self.finding(self.params.category, p.url, f"request for a weights file refused by the proxy: {m.reason}",
                             [{"seq": event.seq, "url": p.url, "blocked": True, "reason": p.reason}], ts=event.ts)
            if f is not None:
                yield f
            return
        if not isinstance(p, NetResponse):
            return
        m = match_content_kind(self.rule.id, self.params, p.url, p.sniff, p.size)
        if m is None and p.status and 200 <= p.status < 300:
            hdrs = {h[0].lower(): h[1] for h in p.headers if len(h) == 2}
            m = match_content_headers(self.rule.id, self.params, p.url, hdrs, p.size)
        if m is None:
            return
        f = self.finding(self.params.category, p.url, m.reason, [{"seq": event.seq, "url": p.url,
                                                                   "sha256": p.sha256}], ts=event.ts)
        if f is not None:
            yield f
