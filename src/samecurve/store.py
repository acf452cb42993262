"""The SQLite store (WAL): runs, cells, scores with their spend, organisms and task metadata.

One transaction per finished cell, written only by the parent process, so a run killed at any
moment leaves whole cells or nothing; a rerun asks `done_keys()` and does the rest. The report and
the verdicts are pure functions of this file.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from .errors import SamecurveError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, created TEXT, suite TEXT, config TEXT, versions TEXT);
CREATE TABLE IF NOT EXISTS tasks (
  name TEXT PRIMARY KEY, version TEXT, tois TEXT, metrics TEXT);
CREATE TABLE IF NOT EXISTS organisms (
  hash TEXT PRIMARY KEY, family TEXT, label TEXT, spec TEXT, metrics TEXT, weights_sha256 TEXT);
CREATE TABLE IF NOT EXISTS cells (
  cell_key TEXT PRIMARY KEY, run_id TEXT, task TEXT, task_version TEXT, organism_set TEXT,
  arm TEXT, family TEXT, access TEXT, control TEXT, seed INTEGER, params TEXT,
  organism_hashes TEXT, budget TEXT, versions TEXT, wall_seconds REAL, status TEXT, error TEXT,
  finished TEXT);
CREATE TABLE IF NOT EXISTS scores (
  cell_key TEXT, metric TEXT, instance TEXT, value REAL, spend TEXT, detail TEXT,
  PRIMARY KEY (cell_key, metric, instance));
"""


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise SamecurveError(f"{self.path} is not a samecurve results store ({exc}); choose another --out") from exc
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- writes -----------------------------------------------------------------------------
    def add_run(self, run_id: str, suite: str, config: dict, versions: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?)",
                            (run_id, time.strftime("%Y-%m-%dT%H:%M:%S"), suite, json.dumps(config), json.dumps(versions)))

    def add_task(self, name: str, version: str, tois: Iterable[str], metrics: dict) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO tasks VALUES (?,?,?,?)",
                            (name, version, json.dumps(list(tois)), json.dumps(metrics)))

    def add_organism(self, org: Any) -> None:
        from .organisms.base import spec_dict

        with self.db:
            self.db.execute("INSERT OR REPLACE INTO organisms VALUES (?,?,?,?,?,?)",
                            (org.hash, org.spec.family, org.label, json.dumps(spec_dict(org.spec)),
                             json.dumps(org.metrics), org.weights_sha256))

    def add_cell(self, cell: dict, scores: list, status: str = "done", error: str | None = None) -> None:
        """Write a finished cell and its scores in one transaction (all or nothing)."""
        with self.db:
            self.db.execute("DELETE FROM scores WHERE cell_key=?", (cell["cell_key"],))
            self.db.execute(
                "INSERT OR REPLACE INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (cell["cell_key"], cell["run_id"], cell["task"], cell["task_version"], cell["organism_set"],
                 cell["arm"], cell["family"], cell["access"], cell["control"], cell["seed"],
                 json.dumps(cell["params"]), json.dumps(cell["organism_hashes"]), json.dumps(cell["budget"]),
                 json.dumps(cell["versions"]), cell.get("wall_seconds", 0.0), status, error,
                 time.strftime("%Y-%m-%dT%H:%M:%S")))
            self.db.executemany(
                "INSERT INTO scores VALUES (?,?,?,?,?,?)",
                [(cell["cell_key"], s.metric, s.instance, float(s.value), json.dumps(s.spend), json.dumps(s.detail))
                 for s in scores])

    # ---- reads ------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT cell_key FROM cells WHERE status='done'")}

    def cells(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM cells ORDER BY task, arm, seed")]

    def score_rows(self) -> list[dict]:
        """One row per score, joined with its cell (what verdicts and reports are made from)."""
        q = """SELECT c.task, c.organism_set, c.arm, c.family, c.access, c.control, c.seed, c.budget,
                      s.metric, s.instance, s.value, s.spend, s.detail, c.cell_key
               FROM scores s JOIN cells c USING (cell_key) WHERE c.status='done'
               ORDER BY c.task, s.metric, c.arm, c.seed, s.instance"""
        rows = []
        for r in self.db.execute(q):
            d = dict(r)
            d["spend"], d["detail"], d["budget"] = json.loads(d["spend"]), json.loads(d["detail"]), json.loads(d["budget"])
            rows.append(d)
        return rows

    def tasks(self) -> dict[str, dict]:
        return {r["name"]: {"version": r["version"], "tois": json.loads(r["tois"]), "metrics": json.loads(r["metrics"])}
                for r in self.db.execute("SELECT * FROM tasks")}

    def organisms(self) -> list[dict]:
        return [{**dict(r), "spec": json.loads(r["spec"]), "metrics": json.loads(r["metrics"])}
                for r in self.db.execute("SELECT * FROM organisms ORDER BY label")]

    def runs(self) -> list[dict]:
        return [{**dict(r), "config": json.loads(r["config"]), "versions": json.loads(r["versions"])}
                for r in self.db.execute("SELECT * FROM runs ORDER BY created")]

    def export_csv(self, path: str | Path) -> Path:
        rows = self.score_rows()
        path = Path(path)
        with open(path, "w", newline="") as f:
            fields = ["task", "metric", "arm", "family", "access", "control", "seed", "instance", "value",
                      "organism_set", "cell_key", "spend"]
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({**r, "spend": json.dumps(r["spend"])})
        return path
