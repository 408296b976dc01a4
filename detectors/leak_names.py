"""Leakage by name: Hub dataset ids, PyPI packages and test-set paths in URLs and opens.

These need no content: asking for the test split of a benchmark's Hub dataset, or for a
package that ships the test set, is itself the finding (even when the request was
blocked). Split names come from the URL (``test-00000-of-00001.parquet``,
``/parquet/main/test/0.parquet``, ``?split=test``); a request that names only allowed
splits, or that fetches no data file while some split is allowed (metadata, README), is
not flagged. A benchmark with no allowed split (BFCL, whose Hub "train" is the eval
data) flags every request for its ids.

URL forms: the Hub's files (``/datasets/{id}/resolve|blob|raw/{rev}/...``, where the
revision may be ``refs%2Fconvert%2Fparquet`` -- the parquet conversion -- or another
``refs/...``), its API (``/api/datasets/{id}/...``, including ``/parquet`` listings and
``/parquet/{config}/{split}/{n}.parquet`` files), the dataset viewer
(``/datasets/{id}/viewer/{config}/{split}``, ``/embed/viewer/...``), the datasets server
(``datasets-server.huggingface.co/rows|first-rows|search|filter|parquet?dataset={id}&split=``)
and ModelScope's API (``/api/v1/datasets/{id}/repo?FilePath=``), on any host. On the
mirror hosts a policy lists (``mirror_hosts``), which republish datasets under other
owners, a dataset's name alone (``*/gsm8k``) is enough.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

SPLITS = frozenset({"train", "test", "validation", "valid", "val", "dev", "eval", "evaluation", "testing"})
DATA_EXT = (".parquet", ".jsonl", ".json", ".csv", ".tsv", ".arrow", ".txt", ".zip", ".gz", ".zst", ".bz2",
            ".xz", ".tar", ".feather", ".pkl", ".pickle")
_META = ("readme.md", ".gitattributes", "dataset_infos.json", "dataset_info.json")
_SPLIT_TOKEN = re.compile(r"[/\-_.=&?]+")


def norm_pkg(name: str) -> str:
    """PEP 503 normalisation: lower case, runs of ``-_.`` become ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _on_mirror(host: str, mirror_hosts: list[str]) -> bool:
    h = host.lower().rstrip(".")
    return any(fnmatchcase(h, p.lower()) for p in mirror_hosts)


def hub_dataset_ref(url: str, hub_ids: list[str], mirror_hosts: list[str] | None = None) -> tuple[str, str] | None:
    """(hub id, rest of the URL after the id) when ``url`` addresses one of ``hub_ids``
    (on a mirror host, any owner's dataset of the same name)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    low = path.lower()
    mirror = _on_mirror(parts.hostname or "", mirror_hosts or [])
    query = parse_qs(parts.query)
    tail_q = "?" + parts.query if parts.query else ""
    for hid in hub_ids:
        h = hid.lower()
        names = [h]
        if mirror and "/" in h:
            names.append(r"[^/]+/" + re.escape(h.split("/", 1)[1]))
        for name in names:
            pat = name if name != h else re.escape(h)
            m = re.search(rf"/(?:api/(?:v1/)?)?datasets/{pat}(?=[/?]|$)", low)
            if m:
                return hid, path[m.end():] + tail_q
        if any(v.lower() == h or (mirror and v.lower().rsplit("/", 1)[-1] == h.rsplit("/", 1)[-1])
               for v in query.get("dataset", [])):  # datasets server: /rows?dataset=...
            return hid, "?" + parts.query
    return None


def splits_in(rest: str) -> set[str]:
    """Split names mentioned in the part of a Hub URL after the dataset id."""
    tokens = {t.lower() for t in _SPLIT_TOKEN.split(rest) if t}
    return tokens & SPLITS


def hub_verdict(rest: str, allowed: list[str]) -> str | None:
    """Why a request for a benchmark's Hub dataset is leakage, or None when it is allowed."""
    allowed_set = {s.lower() for s in allowed}
    if not allowed_set:
        return "the task allows no split of this dataset"
    tail = rest.split("?")[0]
    # The revision of /resolve|blob|raw|tree/<rev>/ is not a split: refs%2Fconvert%2Fparquet
    # (unquoted to refs/convert/parquet), refs/pr/1, main, a commit.
    tail = re.sub(r"^/(resolve|blob|raw|tree|viewer|embed/viewer)/(refs/(?:convert|pr)/[^/]+|[^/]+)", "", tail)
    found = splits_in(tail) | splits_in("?" + rest.split("?", 1)[1] if "?" in rest else "")
    bad = found - allowed_set
    if bad:
        return f"split {', '.join(sorted(bad))} is not allowed"
    if found:
        return None
    name = PurePosixPath(tail).name.lower()
    is_data = name.endswith(DATA_EXT) and name not in _META
    return "data file of unknown split" if is_data else None


def pypi_package(url: str, packages: list[str]) -> str | None:
    """The package of ``packages`` that ``url`` fetches (index page, JSON API or a file)."""
    wanted = {norm_pkg(p): p for p in packages}
    path = unquote(urlsplit(url).path)
    m = re.search(r"/(?:simple|pypi)/([^/]+)(?:/|$)", path)
    if m and norm_pkg(m.group(1)) in wanted:
        return wanted[norm_pkg(m.group(1))]
    name = PurePosixPath(path).name
    m = re.match(r"^(.+?)-\d[^/]*\.(?:whl|tar\.gz|zip|tar\.bz2|egg)$", name, re.I)
    if m and norm_pkg(m.group(1)) in wanted:
        return wanted[norm_pkg(m.group(1))]
    return None


def mentions_path(text: str, host_path: str) -> bool:
    """Whether ``text`` (an opened path, an argv word, a URL) names the test set's host
    path or its file name as a path component."""
    if not text:
        return False
    if host_path and host_path in text:
        return True
    base = PurePosixPath(host_path).name
    if not base:
        return False
    text = unquote(text)
    i = text.find(base)
    while i >= 0:
        before = text[i - 1] if i else "/"
        after = text[i + len(base)] if i + len(base) < len(text) else "/"
        if before in "/\\ '\"=:" and after in "/\\ '\"?&#;":
            return True
        i = text.find(base, i + 1)
    return False
