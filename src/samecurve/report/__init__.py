"""Reports made from a results store: a terminal scorecard, a self-contained HTML page and the
markdown table README shows.

Imported lazily so `import samecurve.report` does not pull in matplotlib or rich until needed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["markdown_table", "print_scorecard", "scorecard", "write_html"]


def __getattr__(name: str) -> Any:
    if name == "write_html":
        from .html import write_html
        return write_html
    if name == "markdown_table":
        from .markdown import markdown_table
        return markdown_table
    if name in ("print_scorecard", "scorecard"):
        from . import terminal
        return getattr(terminal, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
