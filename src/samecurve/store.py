"""The SQLite store (WAL): runs, cells, scores with their spend, organisms and task metadata.

One transaction per finished cell, written only by the parent process, so a run killed at any
moment leaves whole cells or nothing; a rerun asks `done_keys()` and does the rest. The report and
the verdicts are pure functions of this file.

A store may hold several runs (a smoke and a quick run in one --out, or a rerun after an edit):
`run_cells` records every cell of each run's plan, and reads take a `run_id` (default: the newest
run) so that a run is reported only from its own cells. Per-item evidence (evidence.py) sits in
`items` as raw numeric arrays, never pickles.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from .errors import SamecurveError
from .evidence import decode, encode

OVER_BUDGET = "over-budget"  # a cell whose method its budget could not pay for: an outcome, kept on resume
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, created TEXT, suite TEXT, config TEXT, versions TEXT, fingerprint TEXT);
CREATE TABLE IF NOT EXISTS run_cells (
  run_id TEXT, cell_key TEXT, PRIMARY KEY (run_id, cell_key));
CREATE TABLE IF NOT EXISTS tasks (
  name TEXT PRIMARY KEY, version TEXT, tois TEXT, metrics TEXT);
CREATE TABLE IF NOT EXISTS organisms (
  hash TEXT PRIMARY KEY, family TEXT, label TEXT, spec TEXT, metrics TEXT, weights_sha256 TEXT);
CREATE TABLE IF NOT EXISTS cells (
  cell_key TEXT PRIMARY KEY, run_id TEXT, task TEXT, task_version TEXT, organism_set TEXT,
  arm TEXT, family TEXT, access TEXT, control TEXT, seed INTEGER, params TEXT,
  organism_hashes TEXT, budget TEXT, versions TEXT, wall_seconds REAL, status TEXT, error TEXT,
  finished TEXT, source TEXT, pretrained TEXT);
CREATE TABLE IF NOT EXISTS scores (
  cell_key TEXT, metric TEXT, instance TEXT, value REAL, spend TEXT, detail TEXT, unit TEXT, kind TEXT,
  PRIMARY KEY (cell_key, metric, instance));
CREATE TABLE IF NOT EXISTS items (
  cell_key TEXT, metric TEXT, instance TEXT, name TEXT, dtype TEXT, shape TEXT, data BLOB,
  PRIMARY KEY (cell_key, metric, instance, name));
"""


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            has_tables = self.db.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            if has_tables and version != SCHEMA_VERSION:
                self.db.close()
                raise SamecurveError(f"{self.path} was written by an older samecurve (store schema {version}, "
                                     f"this one reads {SCHEMA_VERSION}); choose a new --out (the old store is left as is)")
            self.db.executescript(SCHEMA)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
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
    def add_run(self, run_id: str, suite: str, config: dict, versions: dict, fingerprint: dict | None = None) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO runs VALUES (?,?,?,?,?,?)",
                            (run_id, time.strftime("%Y-%m-%dT%H:%M:%S"), suite, json.dumps(config), json.dumps(versions),
                             json.dumps(fingerprint or {})))

    def add_run_cells(self, run_id: str, cell_keys: Iterable[str]) -> None:
        """The plan of a run: every cell it asked for, whether run now or found done."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO run_cells VALUES (?,?)", [(run_id, k) for k in cell_keys])

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
        """Write a finished cell, its scores and their items in one transaction (all or nothing)."""
        with self.db:
            self.db.execute("DELETE FROM scores WHERE cell_key=?", (cell["cell_key"],))
            self.db.execute("DELETE FROM items WHERE cell_key=?", (cell["cell_key"],))
            self.db.execute(
                "INSERT OR REPLACE INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (cell["cell_key"], cell["run_id"], cell["task"], cell["task_version"], cell["organism_set"],
                 cell["arm"], cell["family"], cell["access"], cell["control"], cell["seed"],
                 json.dumps(cell["params"]), json.dumps(cell["organism_hashes"]), json.dumps(cell["budget"]),
                 json.dumps(cell["versions"]), cell.get("wall_seconds", 0.0), status, error,
                 time.strftime("%Y-%m-%dT%H:%M:%S"), cell.get("source"), cell.get("pretrained")))
            units = cell.get("units", {})
            self.db.executemany(
                "INSERT INTO scores VALUES (?,?,?,?,?,?,?,?)",
                [(cell["cell_key"], s.metric, s.instance, float(s.value), json.dumps(s.spend), json.dumps(s.detail),
                  units.get(s.instance, s.instance), getattr(s, "kind", None)) for s in scores])
            self.db.executemany(
                "INSERT INTO items VALUES (?,?,?,?,?,?,?)",
                [(cell["cell_key"], s.metric, s.instance, name, *encode(arr))
                 for s in scores for name, arr in sorted(getattr(s, "items", {}).items())])

    # ---- reads ------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT cell_key FROM cells WHERE status IN ('done', ?)", (OVER_BUDGET,))}

    def cell_costs(self) -> dict[tuple[str, str], float]:
        """Mean wall seconds of the finished cells per (task, arm), over every run in the store."""
        q = "SELECT task, arm, AVG(wall_seconds) FROM cells WHERE status='done' GROUP BY task, arm"
        return {(task, arm): wall for task, arm, wall in self.db.execute(q)}

    def cells(self, run_id: str | None = None) -> list[dict]:
        """The cells of one run's plan (default: the newest run), done or failed."""
        where, args = self._run_filter(run_id)
        return [dict(r) for r in self.db.execute(f"SELECT * FROM cells c WHERE 1{where} ORDER BY task, arm, seed", args)]

    def items(self, cell_key: str, metric: str, instance: str) -> dict[str, Any]:
        """The per-item arrays a score was computed from (numpy arrays by name)."""
        q = "SELECT name, dtype, shape, data FROM items WHERE cell_key=? AND metric=? AND instance=? ORDER BY name"
        return {r["name"]: decode(r["dtype"], r["shape"], r["data"]) for r in self.db.execute(q, (cell_key, metric, instance))}

    def latest_run(self) -> str | None:
        r = self.db.execute("SELECT run_id FROM runs ORDER BY created DESC, rowid DESC LIMIT 1").fetchone()
        return r[0] if r else None

    def _run_filter(self, run_id: str | None) -> tuple[str, tuple]:
        """SQL restricting cells to one run's plan: the given run, else the newest one."""
        run_id = run_id or self.latest_run()
        if run_id is None:
            return "", ()
        if not self.db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone():
            known = ", ".join(r["run_id"] for r in self.runs()) or "none"
            raise SamecurveError(f"no run {run_id!r} in {self.path}; runs: {known}")
        return " AND c.cell_key IN (SELECT cell_key FROM run_cells WHERE run_id=?)", (run_id,)

    def score_rows(self, run_id: str | None = None) -> list[dict]:
        """One row per score of one run's plan, joined with its cell (what verdicts and reports are made of)."""
        where, args = self._run_filter(run_id)
        q = f"""SELECT c.task, c.organism_set, c.arm, c.family, c.access, c.control, c.seed, c.budget,
                      s.metric, s.instance, s.value, s.spend, s.detail, c.cell_key, s.unit, s.kind, c.pretrained
               FROM scores s JOIN cells c USING (cell_key) WHERE c.status='done'{where}
               ORDER BY c.task, s.metric, c.arm, c.seed, s.instance"""
        rows = []
        for r in self.db.execute(q, args):
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
        return [{**dict(r), "config": json.loads(r["config"]), "versions": json.loads(r["versions"]),
                 "fingerprint": json.loads(r["fingerprint"] or "{}")}
                for r in self.db.execute("SELECT * FROM runs ORDER BY created, rowid")]

    def run(self, run_id: str | None = None) -> dict | None:
        run_id = run_id or self.latest_run()
        return next((r for r in self.runs() if r["run_id"] == run_id), None)

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
