"""The hand-written edge-patching forward (explanation-faithfulness `run_graph`) as a ratio of the
plain forward of the same name-mover model, same process.

It splits every head and routes each sender to each receiver separately, so it is expected to be
slower than the fused forward; this says by how much (median of repeats, sequences per second).
"""

from __future__ import annotations

import torch

from samecurve.organisms import namemover
from samecurve.tasks.explanation_faithfulness import Graph, run_graph
from samecurve.threads import single_threaded
from timing import median_seconds  # bench/timing.py (scripts run from bench/)

single_threaded()


def main() -> None:
    torch.manual_seed(0)
    model = namemover.make_model(namemover.NameMoverSpec(0)).eval()
    graph = Graph.of(model.cfg)
    x = torch.randint(0, namemover.VOCAB, (256, model.cfg.n_ctx))
    x_corrupt = torch.randint(0, namemover.VOCAB, x.shape)
    mask = (torch.rand(len(graph.edges)) < 0.5).float()
    with torch.no_grad():
        _, corrupt = run_graph(model, x_corrupt, graph)
        plain = median_seconds(lambda: model(x), 20)
        unmasked = median_seconds(lambda: run_graph(model, x, graph), 20)
        patched = median_seconds(lambda: run_graph(model, x, graph, mask, corrupt), 20)
    n = x.shape[0]
    print(f"edges in the graph          {len(graph.edges)}")
    print(f"plain forward               {n / plain:10.0f} seq/s")
    print(f"run_graph, no ablation      {n / unmasked:10.0f} seq/s   ratio {plain / unmasked:.3f}x plain")
    print(f"run_graph, half the edges   {n / patched:10.0f} seq/s   ratio {plain / patched:.3f}x plain")


if __name__ == "__main__":
    main()
