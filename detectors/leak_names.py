"""Leakage by name: Hub dataset ids, PyPI packages and test-set paths in URLs and opens.

These need no content: asking for the test split of a benchmark's Hub dataset, or for a
package that ships the test set, is itself the finding (even when the request was
blocked). Split names come from the URL (``test-00000-of-00001.parquet``,
``/parquet/main/test/0.parquet``, ``?split=test``); a request that names only allowed
splits, or that fetches no data file while some split is allowed (metadata, README), is
not flagged. A benchmark with no allowed split (BFCL, whose Hub "train" is the eval
data) flags every request for its ids.
"""

from __future__ import annotations

import re
from functools import lru_cache
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


def hub_dataset_ref(url: str, hub_ids: list[str]) -> tuple[str, str] | None:
    """(hub id, rest of the path after the id) when ``url`` addresses one of ``hub_ids``."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    low = path.lower()
    for hid in hub_ids:
        h = hid.lower()
        for prefix in (f"/datasets/{h}", f"/api/datasets/{h}"):
            i = low.find(prefix)
            if i >= 0 and (len(low) == i + len(prefix) or low[i + len(prefix)] in "/?"):
                return hid, path[i + len(prefix):]
        query = parse_qs(parts.query)
        if any(v.lower() == h for v in query.get("dataset", [])):  # datasets-server /rows?dataset=...
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
    # The revision segment of /resolve/<rev>/ is not a split (e.g. refs%2Fconvert%2Fparquet).
    tail = re.sub(r"^/(resolve|blob|tree)/[^/]+", "", tail)
    found = splits_in(tail) | splits_in("?" + rest.split("?", 1)[1] if "?" in rest else "")
    bad = found - allowed_set
    if bad:
        return f"split {', '.join(sorted(bad))} is not allowed"
    if found:
        return None
    name = PurePosixPath(tail).name.lower()
    is_data = name.endswith(DATA_EXT) and name not in _META or "/parquet" in tail.lower()
    return "data file of unknown split" if is_data else None


@lru_cache(maxsize=64)
def _wanted(packages: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...]]:
    wanted = {norm_pkg(p): p for p in packages}
    return wanted, tuple(w.replace("-", "") for w in wanted)


_SEPARATORS = str.maketrans("", "", "-_.")


@lru_cache(maxsize=64)
def _name(path: str) -> str:
    return PurePosixPath(path).name


def pypi_package(url: str, packages: list[str]) -> str | None:
    """The package of ``packages`` that ``url`` fetches (index page, JSON API or a file)."""
    if not packages:
        return None
    wanted, bare = _wanted(tuple(packages))  # replay asks this for every request: work it out once
    path = unquote(urlsplit(url).path)
    squeezed = path.lower().translate(_SEPARATORS)
    if not any(b in squeezed for b in bare):  # a name that normalises to a wanted one is in the path
        return None
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
    base = _name(host_path)
    if not base or base not in text and "%" not in text:  # the common case: not mentioned at all
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
