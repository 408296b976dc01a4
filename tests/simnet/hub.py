"""A fake Hugging Face Hub (``huggingface.co``) and its LFS CDN, enough for huggingface_hub.

Served: ``/api/{models,datasets}/{repo}[/revision/{rev}]`` (repo info with siblings),
``/api/.../tree/{rev}[/path]`` (listing), ``[/datasets]/{repo}/resolve/{rev}/{file}``
(HEAD/GET; large files answer 302 to the CDN with X-Linked-Etag/-Size, small ones 200 with
ETag), and on the CDN ``/repos/{aa}/{bb}/{sha256}`` plus ``/bytes/{n}`` (n pattern bytes).
Named revisions besides ``main`` (``HubRepo.revisions``) serve their own files: the Hub's
parquet conversion lives at ``refs/convert/parquet`` (URLs spell it
``refs%2Fconvert%2Fparquet``), listed by ``/api/datasets/{repo}/parquet`` and fetched through
``/api/datasets/{repo}/parquet/{config}/{split}/{n}.parquet`` (a redirect to the file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import unquote

from .files import pattern_stream
from .server import Req, Resp, json_resp, ranged

PARQUET_REV = "refs/convert/parquet"
LFS_EXTENSIONS = (".safetensors", ".bin", ".gguf", ".parquet", ".pt", ".pth", ".arrow", ".zip")


@dataclass
class HubRepo:
    """A repo of the fake Hub: id "org/name", kind "model" or "dataset", files path -> bytes."""

    repo_id: str
    files: dict[str, bytes]
    kind: str = "model"
    sha: str = field(default="")
    revisions: dict[str, dict[str, bytes]] = field(default_factory=dict)  # e.g. "refs/convert/parquet"

    def __post_init__(self) -> None:
        if not self.sha:
            h = hashlib.sha1(self.kind.encode() + self.repo_id.encode())
            for p in sorted(self.files):
                h.update(p.encode() + hashlib.sha256(self.files[p]).digest())
            self.sha = h.hexdigest()


def is_lfs(path: str, data: bytes) -> bool:
    return path.endswith(LFS_EXTENSIONS) or len(data) >= 10_000


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self, repos: list[HubRepo], cdn_url: str):
        self.repos = {(r.kind, r.repo_id): r for r in repos}
        self.cdn_url = cdn_url.rstrip("/")  # public URL of the CDN, e.g. https://cdn-lfs.huggingface.co
        self.by_sha: dict[str, bytes] = {}
        for r in repos:
            for files in (r.files, *r.revisions.values()):
                for data in files.values():
                    self.by_sha[hashlib.sha256(data).hexdigest()] = data

    # -- huggingface.co -------------------------------------------------------------
    def app(self, req: Req) -> Resp:
        parts = [unquote(p) for p in req.path.split("/") if p]
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in ("models", "datasets"):
            return self._api("model" if parts[1] == "models" else "dataset", parts[2:])
        kind = "model"
        if parts and parts[0] == "datasets":
            kind, parts = "dataset", parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(kind, "/".join(parts[:2]), parts[3], "/".join(parts[4:]), req.method)
        return _error(404, "EntryNotFound", f"no route for {req.path}")

    def _repo(self, kind: str, repo_id: str, rev: str) -> HubRepo | Resp:
        repo = self.repos.get((kind, repo_id))
        if repo is None:
            return _error(404, "RepoNotFound", f"Repository Not Found for url: {repo_id}")
        if rev not in ("main", repo.sha, *repo.revisions):
            return _error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return repo

    @staticmethod
    def _files(repo: HubRepo, rev: str) -> dict[str, bytes]:
        return repo.revisions.get(rev, repo.files)

    def _api(self, kind: str, rest: list[str]) -> Resp:
        repo_id, tail = "/".join(rest[:2]), rest[2:]
        rev = tail[1] if len(tail) >= 2 and tail[0] in ("revision", "tree") else "main"
        repo = self._repo(kind, repo_id, rev)
        if isinstance(repo, Resp):
            return repo
        if tail and tail[0] == "parquet":
            return self._parquet_api(repo, tail[1:])
        if tail and tail[0] == "tree":
            prefix = "/".join(tail[2:])
            return json_resp([self._entry(p, d) for p, d in sorted(self._files(repo, rev).items())
                              if not prefix or p.startswith(prefix.rstrip("/") + "/")])
        info = {"_id": repo.sha[:24], "id": repo_id, "sha": repo.sha, "private": False, "disabled": False,
                "gated": False, "downloads": 0, "likes": 0, "tags": [], "lastModified": "2024-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": p, "size": len(d)} for p, d in sorted(repo.files.items())]}
        if kind == "model":
            info["modelId"] = repo_id
        return json_resp(info)

    def _entry(self, path: str, data: bytes) -> dict[str, object]:
        e: dict[str, object] = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
        if is_lfs(path, data):
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return e

    def _resolve(self, kind: str, repo_id: str, rev: str, path: str, method: str) -> Resp:
        repo = self._repo(kind, repo_id, rev)
        if isinstance(repo, Resp):
            return repo
        data = self._files(repo, rev).get(path)
        if data is None:
            return _error(404, "EntryNotFound", f"{path} not found in {repo_id}")
        common = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if is_lfs(path, data):
            sha = hashlib.sha256(data).hexdigest()
            loc = f"{self.cdn_url}/repos/{sha[:2]}/{sha[2:4]}/{sha}?response-content-disposition=attachment"
            return Resp(302, b"", {**common, "Location": loc, "X-Linked-Etag": f'"{sha}"',
                                   "X-Linked-Size": str(len(data)), "ETag": f'"{git_oid(data)}"'})
        return Resp(200, data, {**common, "ETag": f'"{git_oid(data)}"', "Content-Type": "application/octet-stream"})

    def _parquet_api(self, repo: HubRepo, rest: list[str]) -> Resp:
        """``/api/datasets/{id}/parquet[/{config}[/{split}[/{n}.parquet]]]`` over the
        ``refs/convert/parquet`` revision, whose files are ``{config}/{split}/{nnnn}.parquet``."""
        files = repo.revisions.get(PARQUET_REV, {})
        base = f"https://huggingface.co/datasets/{repo.repo_id}/resolve/{PARQUET_REV.replace('/', '%2F')}"
        if len(rest) == 3 and rest[2].endswith(".parquet") and rest[2][:-8].isdigit():
            path = f"{rest[0]}/{rest[1]}/{int(rest[2][:-8]):04d}.parquet"
            if path not in files:
                return _error(404, "EntryNotFound", f"{path} not found in {repo.repo_id}")
            return Resp(302, b"", {"Location": f"{base}/{path}"})
        urls = [f"https://huggingface.co/api/datasets/{repo.repo_id}/parquet/{c}/{s}/{int(n[:-8])}.parquet"
                for c, s, n in (p.split("/") for p in sorted(files) if p.count("/") == 2)
                if rest[:2] == [c, s][:len(rest)]]
        if not urls:
            return _error(404, "EntryNotFound", f"no parquet files for {'/'.join(rest) or repo.repo_id}")
        return json_resp(urls)

    # -- cdn-lfs.huggingface.co / cas-bridge.xethub.hf.co ------------------------------------
    def cdn_app(self, req: Req) -> Resp:
        parts = [p for p in req.path.split("/") if p]
        if len(parts) == 2 and parts[0] == "bytes" and parts[1].isdigit():
            n = int(parts[1])
            return Resp(200, pattern_stream(n), {"Content-Type": "application/octet-stream"}, length=n)
        if len(parts) == 4 and parts[0] == "repos" and parts[3] in self.by_sha:
            data = self.by_sha[parts[3]]
            return ranged(req, data, {"ETag": f'"{parts[3]}"'})
        return Resp(403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"})


def _error(status: int, code: str, msg: str) -> Resp:
    return json_resp({"error": msg}, status, {"X-Error-Code": code, "X-Error-Message": msg})
