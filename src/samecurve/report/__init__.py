"""Reports made from a results store: a terminal scorecard and a self-contained HTML page.

Imported lazily so `import samecurve.report` does not pull in matplotlib or rich until needed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["print_scorecard", "scorecard", "write_html"]


def __getattr__(name: str) -> Any:
    if name == "write_html":
        from .html import write_html
        return write_html
    if name in ("print_scorecard", "scorecard"):
        from . import terminal
        return getattr(terminal, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
