"""What latent-knowledge's arms elicit: the truth, or what the persona claims?

    .venv/bin/python dev/elk_claims.py runs/full [--run ID] [--labels 128]

Reads a stored run (nothing is re-run) and, per arm at the chosen labelled-examples rung, prints the
mean over organisms of its AUROC for the truth (the task's own metric), the same on the easy
(no-carry) and hard (carry) halves of the test set, and its AUROC against what the persona says
(the `persona_says` item the task stores with every score). The test set puts the persona's claim at
AUROC 0.5 against the truth, so an arm near 1.0 on the last column ranks statements by the claim: the
"human simulator" of ELK, which its easy labels (Alice's word, true there) cannot tell from the truth.
Not a verdict (the table of `samecurve report` is): a diagnosis of why a row sits at chance.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np
from sklearn.metrics import roc_auc_score

from samecurve.store import Store

METRIC = "truth-auroc"


def _auroc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--run", default=None, help="run id (default: the newest)")
    ap.add_argument("--labels", type=int, default=None, help="labelled-examples rung (default: the largest)")
    a = ap.parse_args()
    with Store(f"{a.run_dir}/results.sqlite") as store:
        cells = [c for c in store.cells(a.run) if c["task"] == "latent-knowledge" and c["status"] == "done"]
        rungs = sorted({json.loads(c["budget"])["labelled_examples"] for c in cells})
        if not rungs:
            raise SystemExit("no latent-knowledge cells in that run")
        rung = a.labels if a.labels is not None else rungs[-1]
        per_arm: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for c in cells:
            if json.loads(c["budget"])["labelled_examples"] != rung:
                continue
            instances = [r[0] for r in store.db.execute(
                "SELECT instance FROM scores WHERE cell_key=? AND metric=?", (c["cell_key"], METRIC))]
            for inst in instances:
                it = store.items(c["cell_key"], METRIC, inst)
                y, s = it["labels"].astype(int), it["scores"].astype(float)
                hard, says = it["hard"].astype(bool), it["persona_says"].astype(int)
                got = per_arm[(c["family"], c["arm"])]
                got["truth"].append(_auroc(y, s))
                got["easy"].append(_auroc(y[~hard], s[~hard]))
                got["hard"].append(_auroc(y[hard], s[hard]))
                got["claim"].append(_auroc(says, s))
    print(f"latent-knowledge at {rung} labelled examples (rungs: {rungs}); AUROC means over organisms")
    print(f"{'family':9s} {'arm':40s} {'truth':>6s} {'easy':>6s} {'hard':>6s} {'claim':>6s} {'n':>3s}")
    order = {"interp": 0, "baseline": 1, "control": 2}
    for (fam, arm), got in sorted(per_arm.items(), key=lambda kv: (order.get(kv[0][0], 3), kv[0][1])):
        m = {k: np.nanmean(v) for k, v in got.items()}
        print(f"{fam:9s} {arm:40s} {m['truth']:6.3f} {m['easy']:6.3f} {m['hard']:6.3f} {m['claim']:6.3f} {len(got['truth']):3d}")


if __name__ == "__main__":
    main()
