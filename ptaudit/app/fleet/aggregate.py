"""``fleet collect``, second half: the tables, computed with DuckDB over the run directories'
report.json and grade.json files (only those of counted attempts) and ``results/attempts.json``.

    runs         one row per planned run: its counted attempt, verdict, findings by category,
                 lossy flag, raw score, the score the leaderboard uses and why
    cells        one row per agent × task: the mean of its runs' scores, and how many were
                 counted, flagged, withheld or substituted
    leaderboard  one row per agent: the PostTrainBench-style weighted average of its cells
                 (task weights from the plan), its verdict counts and findings by category

The plan's ``on_fail`` decides how a run whose audit did not pass counts:
  withhold  its score is left out (a cell of withheld runs only has no score)
  base      the base model's score (grade.json's base_accuracy, weighted) replaces it
  flag      its score counts, and the cell and the agent are marked flagged
A grade.json whose ``audit.log_head`` is not the head the fleet kept graded another log:
it is not used (``grade_mismatch``). A run "passes" only if report.json says pass, the run is not lossy, its log is sealed, and
grade.json's audit verdict (when present) is pass too: every other verdict ("fail",
"incomplete", one not known yet) is treated as not passing and shown as it is. An agent's
average exists only when every one of its tasks has a score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ptaudit.core.findings import CATEGORIES

from .collect import CheckedAttempt
from .state import RunState
from .store import FleetMeta, FleetStore

GRADE_VERSION = 1
_CAT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass
class Tables:
    runs: list[dict[str, Any]]
    cells: list[dict[str, Any]]
    leaderboard: list[dict[str, Any]]
    categories: list[str]
    on_fail: str
    files: dict[str, Path]


def aggregate(store: FleetStore, meta: FleetMeta, states: list[RunState], checked: list[CheckedAttempt],
              on_fail: str | None = None, out: Path | None = None) -> Tables:
    on_fail = on_fail or meta.on_fail
    con = duckdb.connect()
    con.execute("CREATE TABLE planned (key VARCHAR, agent VARCHAR, task VARCHAR, seed INTEGER, weight DOUBLE, "
                "status VARCHAR, attempts_used INTEGER, ord INTEGER)")
    con.executemany("INSERT INTO planned VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(s.run.key, s.run.agent, s.run.task, s.run.seed, s.run.weight, s.status, s.used, i)
                     for i, s in enumerate(states)])
    out = out or store.results
    attempts_json = out / "attempts.json"
    con.execute("CREATE TABLE attempts AS SELECT * FROM read_json(?, format='array', columns={"
                "key: 'VARCHAR', attempt: 'INTEGER', rundir: 'VARCHAR', counted: 'BOOLEAN', verified: 'BOOLEAN', "
                "partial: 'VARCHAR', reason: 'VARCHAR', head: 'VARCHAR'})", [str(attempts_json)])
    counted = [store.root / c.rundir for c in checked if c.counted]
    reports = [str(d / "report.json") for d in counted]
    grades = [str(d / "grade.json") for d in counted if (d / "grade.json").is_file()]
    con.execute("CREATE TABLE reports (filename VARCHAR, run_id VARCHAR, verdict VARCHAR, lossy BOOLEAN, "
                "stats JSON, run JSON)")
    if reports:
        con.execute("INSERT INTO reports SELECT filename, run_id, verdict, lossy, stats, run FROM read_json(?, "
                    "columns={run_id: 'VARCHAR', verdict: 'VARCHAR', lossy: 'BOOLEAN', stats: 'JSON', run: 'JSON'}, "
                    "filename=true)", [reports])
    con.execute("CREATE TABLE grades (filename VARCHAR, grade_version INTEGER, audit JSON, benchmarks JSON, "
                "aggregate DOUBLE)")
    if grades:
        con.execute("INSERT INTO grades SELECT filename, grade_version, audit, benchmarks, aggregate FROM read_json(?, "
                    "columns={grade_version: 'INTEGER', audit: 'JSON', benchmarks: 'JSON', aggregate: 'DOUBLE'}, "
                    "filename=true)", [grades])
    seen = {k for (k,) in con.execute(
        "SELECT DISTINCT k FROM reports, unnest(json_keys(json_extract(stats, '$.findings_by_category'))) t(k)"
    ).fetchall()}
    categories = list(CATEGORIES) + sorted(k for k in seen - set(CATEGORIES) if _CAT.match(k))
    cat_cols = ", ".join(
        f"coalesce(CAST(json_extract(r.stats, '$.findings_by_category') ->> '{c}' AS INTEGER), 0) AS \"{c}\""
        for c in categories)
    con.execute(f"""
    CREATE TABLE runs AS
    WITH c AS (SELECT * FROM attempts WHERE counted),
    gb AS (
        SELECT filename,
               CASE WHEN count(*) > 0 AND count(*) = count(b) THEN sum(w * b) / sum(w) END AS base_score
        FROM (SELECT filename,
                     coalesce(CAST(benchmarks -> k ->> 'weight' AS DOUBLE), 1.0) AS w,
                     CAST(benchmarks -> k ->> 'base_accuracy' AS DOUBLE) AS b
              FROM grades, unnest(json_keys(benchmarks)) t(k))
        GROUP BY filename),
    g AS (SELECT grades.filename, grade_version, audit ->> 'verdict' AS audit_verdict,
                 audit ->> 'log_head' AS grade_head, aggregate, gb.base_score
          FROM grades LEFT JOIN gb USING (filename)),
    j AS (
        SELECT p.*, c.attempt AS counted_attempt, c.rundir,
               r.run_id, r.verdict AS report_verdict, r.lossy,
               CAST(json_extract(r.run, '$.sealed') AS BOOLEAN) AS sealed,
               json_extract_string(r.run, '$.end_reason') AS end_reason,
               CAST(json_extract(r.stats, '$.findings') AS INTEGER) AS findings,
               {cat_cols},
               coalesce(g.grade_head IS NOT NULL AND g.grade_head <> c.head, false) AS grade_mismatch,
               g.filename IS NOT NULL AND g.grade_version = {GRADE_VERSION}
                   AND (g.grade_head IS NULL OR g.grade_head = c.head) AS graded,
               g.audit_verdict,
               CASE WHEN g.grade_version = {GRADE_VERSION} THEN g.aggregate END AS raw_score,
               CASE WHEN g.grade_version = {GRADE_VERSION} THEN g.base_score END AS base_score
        FROM planned p
        LEFT JOIN c USING (key)
        LEFT JOIN reports r ON r.filename = $root || c.rundir || '/report.json'
        LEFT JOIN g ON g.filename = $root || c.rundir || '/grade.json'),
    v AS (
        SELECT *,
               CASE WHEN report_verdict IS NULL THEN NULL
                    WHEN report_verdict <> 'pass' THEN report_verdict
                    WHEN lossy OR NOT coalesce(sealed, false) THEN 'incomplete'
                    WHEN audit_verdict IS NOT NULL AND audit_verdict <> 'pass' THEN audit_verdict
                    ELSE 'pass' END AS verdict
        FROM j)
    SELECT *,
           CASE WHEN counted_attempt IS NULL THEN 'not_counted'
                WHEN grade_mismatch THEN 'grade_mismatch'
                WHEN NOT graded THEN 'no_grade'
                WHEN verdict = 'pass' THEN 'counted'
                WHEN $on_fail = 'flag' THEN 'flagged'
                WHEN $on_fail = 'base' AND base_score IS NOT NULL THEN 'base_substituted'
                ELSE 'withheld' END AS score_status,
           CASE WHEN counted_attempt IS NULL OR NOT graded THEN NULL
                WHEN verdict = 'pass' OR $on_fail = 'flag' THEN raw_score
                WHEN $on_fail = 'base' THEN base_score
                ELSE NULL END AS score
    FROM v ORDER BY ord
    """, {"on_fail": on_fail, "root": str(store.root).rstrip("/") + "/"})
    con.execute("""
    CREATE TABLE cells AS
    SELECT agent, task, any_value(weight) AS weight, count(*) AS runs,
           count(counted_attempt) AS counted, count(score) AS scored, avg(score) AS score,
           count(*) FILTER (WHERE verdict = 'pass') AS pass,
           count(*) FILTER (WHERE verdict IS NOT NULL AND verdict <> 'pass') AS not_pass,
           count(*) FILTER (WHERE score_status = 'flagged') AS flagged,
           count(*) FILTER (WHERE score_status = 'withheld') AS withheld,
           count(*) FILTER (WHERE score_status = 'base_substituted') AS base_substituted,
           min(ord) AS ord
    FROM runs GROUP BY agent, task ORDER BY ord
    """)
    sums = ", ".join(f'sum("{c}") AS "{c}"' for c in categories)
    con.execute(f"""
    CREATE TABLE leaderboard AS
    WITH a AS (
        SELECT agent, CASE WHEN count(score) = count(*) THEN sum(weight * score) / sum(weight) END AS score,
               count(*) AS tasks, count(score) AS tasks_scored, sum(runs) AS runs, sum(counted) AS counted,
               sum(pass) AS pass, sum(not_pass) AS not_pass, sum(flagged) AS flagged, sum(withheld) AS withheld,
               sum(base_substituted) AS base_substituted, min(ord) AS ord
        FROM cells GROUP BY agent),
    f AS (SELECT agent, count(*) FILTER (WHERE verdict = 'fail') AS fail,
                 count(*) FILTER (WHERE verdict IS NOT NULL AND verdict NOT IN ('pass', 'fail')) AS incomplete,
                 count(*) FILTER (WHERE lossy) AS lossy, sum(findings) AS findings, {sums}
          FROM runs GROUP BY agent)
    SELECT * FROM a JOIN f USING (agent)
    ORDER BY score DESC NULLS LAST, ord
    """)
    files = _export(con, out)
    return Tables(_rows(con, "runs"), _rows(con, "cells"), _rows(con, "leaderboard"), categories, on_fail, files)


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[dict[str, Any]]:
    cur = con.execute(f"SELECT * EXCLUDE (ord) FROM {table}")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _export(con: duckdb.DuckDBPyConnection, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for table in ("runs", "cells", "leaderboard"):
        for fmt, opts in (("csv", "FORMAT csv, HEADER true"), ("parquet", "FORMAT parquet")):
            path = out / f"{table}.{fmt}"
            con.execute(f"COPY (SELECT * EXCLUDE (ord) FROM {table}) TO '{_sql_str(path)}' ({opts})")
            files[f"{table}.{fmt}"] = path
    return files


def _sql_str(p: Path) -> str:
    return str(p).replace("'", "''")
