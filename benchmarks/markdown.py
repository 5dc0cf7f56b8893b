"""The Markdown tables of every benchmark report, rendered by ``tabulate``."""

from __future__ import annotations

from typing import Any, Sequence

from tabulate import tabulate


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], right_from: int = 1) -> str:
    """A Markdown table; columns from ``right_from`` on (the figures) are right-aligned.

    Cells are shown exactly as given: number parsing is off, so ``0.900`` stays ``0.900``.
    """
    align = ["left" if i < right_from else "right" for i in range(len(header))]
    return tabulate(rows, headers=header, tablefmt="pipe", colalign=align, disable_numparse=True)


def fmt(value: Any) -> str:
    """A score as the understanding, triage and questions reports show it (3 decimals; n/a when missing)."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
