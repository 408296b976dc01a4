"""The Hub's dataset viewer backend (``datasets-server.huggingface.co``) over a FakeHub.

Served, for dataset repos with a parquet conversion (``refs/convert/parquet`` files
``{config}/{split}/{nnnn}.parquet``): ``/splits``, ``/rows`` and ``/first-rows`` (rows as
JSON, ``offset``/``length`` like the real API, at most 100 per page), ``/parquet`` (the
converted files' URLs). Enough for an agent that reads a split without touching the
Hub's file URLs.
"""

from __future__ import annotations

import io

from .hub import PARQUET_REV, FakeHub
from .server import Req, Resp, json_resp


class DatasetsServer:
    def __init__(self, hub: FakeHub):
        self.hub = hub

    def _splits(self, dataset: str) -> dict[tuple[str, str], list[bytes]]:
        repo = self.hub.repos.get(("dataset", dataset))
        out: dict[tuple[str, str], list[bytes]] = {}
        for path, data in sorted((repo.revisions.get(PARQUET_REV, {}) if repo else {}).items()):
            if path.count("/") == 2:
                config, split, _ = path.split("/")
                out.setdefault((config, split), []).append(data)
        return out

    def app(self, req: Req) -> Resp:
        q = {k: v[0] for k, v in req.query.items()}
        dataset = q.get("dataset", "")
        splits = self._splits(dataset)
        if not splits:
            return json_resp({"error": f"The dataset does not exist: {dataset!r}"}, 404)
        if req.path == "/splits":
            return json_resp({"splits": [{"dataset": dataset, "config": c, "split": s} for c, s in splits]})
        if req.path == "/parquet":
            return json_resp({"parquet_files": [
                {"dataset": dataset, "config": c, "split": s, "filename": f"{i:04d}.parquet",
                 "url": f"https://huggingface.co/datasets/{dataset}/resolve/refs%2Fconvert%2Fparquet/{c}/{s}/{i:04d}.parquet"}
                for (c, s), files in splits.items() for i in range(len(files))]})
        if req.path in ("/rows", "/first-rows"):
            key = (q.get("config", "default"), q.get("split", ""))
            if key not in splits:
                return json_resp({"error": f"split {key[1]!r} not found in config {key[0]!r}"}, 404)
            rows = _rows(splits[key])
            offset = int(q.get("offset", 0)) if req.path == "/rows" else 0
            length = min(int(q.get("length", 100)), 100)
            page = rows[offset:offset + length]
            return json_resp({"features": [{"feature_idx": i, "name": n, "type": {"dtype": "string", "_type": "Value"}}
                                           for i, n in enumerate(rows[0] if rows else {})],
                              "rows": [{"row_idx": offset + i, "row": r, "truncated_cells": []} for i, r in enumerate(page)],
                              "num_rows_total": len(rows), "num_rows_per_page": 100, "partial": False})
        return json_resp({"error": f"no route {req.path}"}, 404)


def _rows(files: list[bytes]) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, object]] = []
    for data in files:
        rows += pq.read_table(io.BytesIO(data)).to_pylist()
    return rows
