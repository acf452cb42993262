"""Edge-level resample ablation is exact at its ends, the yardstick maps losses to sizes sensibly,
and the task scores both protocols on the same grid."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from samecurve import registry
from samecurve.budget import Budget
from samecurve.errors import ConfigError
from samecurve.organisms import namemover as nm
from samecurve.organisms.base import load_or_build
from samecurve.tasks import explanation_faithfulness as ef

BUDGET = Budget(labelled_examples=0, forward_passes=3_000, backward_passes=200, wall_seconds=300, tuning_trials=2)


@pytest.fixture(scope="module")
def organism():
    spec = next(s for s in registry.get_organism_set("namemover-tiny").specs(0) if s.role == "organism")
    return load_or_build(spec)


def _random_model(attn_only=False):
    torch.manual_seed(0)
    cfg = nm.config(16, n_heads=4)
    if attn_only:
        cfg = type(cfg)(**{**cfg.to_dict(), "attn_only": True})
    m = nm.TinyTransformer(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return m


@pytest.mark.parametrize("attn_only", [False, True])
def test_patched_forward_is_exact_at_both_ends(attn_only):
    m = _random_model(attn_only)
    g = ef.Graph.of(m.cfg)
    rng = np.random.default_rng(0)
    clean, corrupt = (torch.from_numpy(nm.sample(rng, 8)[0]) for _ in range(2))
    with torch.no_grad():
        _, cache = ef.run_graph(m, corrupt, g)
        keep_all, _ = ef.run_graph(m, clean, g, torch.ones(len(g.edges)), cache)
        keep_none, _ = ef.run_graph(m, clean, g, torch.zeros(len(g.edges)), cache)
        torch.testing.assert_close(keep_all, m(clean), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(keep_none, m(corrupt), atol=1e-4, rtol=1e-4)
        one = ef.run_graph(m, clean, g, g.mask_of(["embed->logits"]), cache)[0]
    assert not torch.allclose(one, keep_none)  # a single kept edge changes the output


def test_graph_counts_edges_of_a_two_layer_model():
    g = ef.Graph.of(nm.config(64, n_heads=4))
    # embed->24 qkv + 2 mlps + logits; layer-0 heads -> 12 qkv + m0 + m1 + logits; m0 -> 12 + m1 + logits; ...
    assert len(g.edges) == 27 + 4 * 15 + 14 + 4 * 2 + 1 == 110
    assert len(set(g.edges)) == len(g.edges)


def test_equivalent_params_follows_the_ladder():
    ref = ef.Reference(None, None, None, None, loss_full=0.01, loss_unigram=2.77, loss_ablated=9.0,
                       ladder=[(600, 1.4), (1700, 0.5), (5500, 0.9), (71000, 0.01)])
    assert ref.equivalent_params(0.01) == 71000
    assert ref.equivalent_params(0.5) == pytest.approx(1700)
    assert 600 < ref.equivalent_params(0.9) < 1700       # the envelope ignores the worse, larger rung
    assert ref.equivalent_params(9.0) == pytest.approx(600 / math.sqrt(10))
    assert ref.recovered(0.01) == 1.0 and ref.recovered(2.77) == 0.0


def test_task_scores_explainers_and_compressors_on_one_grid(organism):
    task = ef.ExplanationFaithfulness(fractions=(0.05, 0.25), eval_size=200)
    rand = registry.get_arm("random-subgraph")
    rows = task.score_organism(rand(), organism, [], 0, BUDGET)
    names = [r.metric for r in rows]
    assert names == ["ioi/loss-recovered@5%", "ioi/loss-recovered@25%", "ioi/loss-recovered-mean", "ioi/compute-equivalent"]
    assert set(names) <= set(task.metrics)
    pts = [r.detail["point"] for r in rows[:2]]
    assert [p["edges"] for p in pts] == [6, 28]
    assert all(np.isfinite(r.value) for r in rows)
    # every edge kept recovers everything; none kept is the fully ablated model
    ref = task.reference(organism, [], 0)
    assert ref.recovered(task.subgraph_loss(organism, ref, list(ef.Graph.of(organism.model.cfg).edges))) == pytest.approx(1.0, abs=1e-3)
    assert task.subgraph_loss(organism, ref, []) == pytest.approx(ref.loss_ablated, rel=1e-4)
    assert ref.loss_ablated > ref.loss_unigram > ref.loss_full


def test_unknown_fraction_is_a_config_error(organism):
    task = ef.ExplanationFaithfulness(fractions=(0.07,))
    with pytest.raises(ConfigError):
        task.run_cell(lambda s: registry.get_arm("random-subgraph")(), [organism], 0, BUDGET)


def test_figures_draw_the_curve_beside_the_tiny_model_line(organism):
    from samecurve.report import fig_explanation_faithfulness as fig

    task = ef.ExplanationFaithfulness(fractions=(0.05, 0.25), eval_size=100)
    scores = task.score_organism(registry.get_arm("random-subgraph")(), organism, [], 0, BUDGET)
    rows = [{"task": task.name, "metric": s.metric, "arm": "random-subgraph", "family": "control", "seed": 0,
             "instance": s.instance, "value": s.value, "spend": s.spend, "detail": s.detail} for s in scores]
    figs = fig.figures(rows)
    assert [f["title"] for f in figs][0] == "Explanation-faithfulness (ioi): loss recovered vs size"
    assert all(f["svg"].startswith("<svg") and "tiny models from scratch" in figs[0]["svg"] for f in figs)
    assert fig.figures([r for r in rows if r["metric"] != "ioi/compute-equivalent"]) == []


def test_one_size_has_no_mean_row_duplicating_it(organism):
    task = ef.ExplanationFaithfulness(fractions=(0.1,), eval_size=100)
    assert task.metrics_for(registry.get_arm("random-subgraph")()) == ["*/loss-recovered@10%", "*/compute-equivalent"]
    scores = task.score_organism(registry.get_arm("random-subgraph")(), organism, [], 0, BUDGET)
    assert [s.metric for s in scores] == ["ioi/loss-recovered@10%", "ioi/compute-equivalent"]


def test_induction_behaviour_scores_the_second_copy_of_the_segment():
    from samecurve.organisms import induction

    tokens, scored, targets = induction.behaviour_sample(np.random.default_rng(0), 50)
    assert scored.sum(1).min() >= 6  # tokens 2..l of the second copy, every row
    rows, cols = np.nonzero(scored)
    np.testing.assert_array_equal(targets[rows, cols], tokens[rows, cols + 1])
    seg = 8  # each scored target repeats the token one segment earlier
    np.testing.assert_array_equal(targets[rows, cols], tokens[rows, cols + 1 - seg])


def test_organisms_without_a_known_algorithm_are_refused():
    from types import SimpleNamespace

    from samecurve.organisms import emergence

    grok = SimpleNamespace(spec=emergence.EmergenceSpec("grokking", "lr1e-2", 0, replace(emergence.GROK_TRAINING, steps=10), 10), label="grokking/x")
    with pytest.raises(ConfigError):
        ef.behaviour_of(grok)


def test_run_cell_separates_the_organism_from_its_from_scratch_ladder():
    orgs = [load_or_build(s) for s in registry.get_organism_set("namemover-tiny").specs(0)]
    task = ef.ExplanationFaithfulness(fractions=(0.1,), eval_size=100)
    scores = task.run_cell(lambda s: registry.get_arm("random-subgraph")(), orgs, 0, BUDGET)
    assert [s.instance for s in scores] == ["organism/d64/s0"] * 2  # 1 size + compute-equivalent; no yardstick rows
    ladder = scores[0].detail["ladder"]
    assert [r["params"] for r in ladder] == sorted(r["params"] for r in ladder) and len(ladder) == len(orgs)
    assert ladder[-1]["recovered"] == 1.0  # the organism is the top rung


def test_reference_corrupt_cache_gives_the_same_subgraph_loss(organism):
    """Reusing the reference's corrupt run is a pure speed-up: same loss as recomputing it."""
    task = ef.ExplanationFaithfulness(fractions=(0.1,), eval_size=64)
    ref = task.reference(organism, [], 0)
    edges = list(ef.Graph.of(ef.network(organism).cfg).edges[::3])
    cached = task.subgraph_losses(organism, ref, edges)
    ref.corrupt_cache = None
    fresh = task.subgraph_losses(organism, ref, edges)
    assert cached[0] == fresh[0] and np.array_equal(cached[1], fresh[1])
