"""The Markdown table helper every benchmark report uses (benchmarks/markdown.py): no servers, no training."""

from __future__ import annotations

import re

from benchmarks.markdown import fmt, table

SEPARATOR = re.compile(r"^\|(:?-+:?\|)+$")


def _cells(line: str) -> list:
    assert line.startswith("|") and line.endswith("|"), line
    return [cell.strip() for cell in line[1:-1].split("|")]


def test_a_table_is_a_valid_markdown_table_with_the_figures_right_aligned():
    text = table(["figure", "ours", "default"], [["p50 ms", "16.3", "68.3"], ["errors", 0, "n/a"]])
    lines = text.splitlines()
    assert len(lines) == 4
    assert _cells(lines[0]) == ["figure", "ours", "default"]
    assert SEPARATOR.match(lines[1]), lines[1]
    left, *figures = _cells(lines[1])
    assert not left.endswith(":")
    assert all(cell.endswith(":") and not cell.startswith(":") for cell in figures)
    assert [_cells(line) for line in lines[2:]] == [["p50 ms", "16.3", "68.3"], ["errors", "0", "n/a"]]
    assert len({len(line) for line in lines}) == 1  # every column padded to one width


def test_cells_are_shown_exactly_as_given():
    text = table(["step", "accuracy", "share"], [["`01-a`", "0.900", "1.000"], ["`02-b`", "1e3", "007"]])
    rows = [_cells(line) for line in text.splitlines()[2:]]
    assert rows == [["`01-a`", "0.900", "1.000"], ["`02-b`", "1e3", "007"]]  # no number reformatting


def test_right_from_keeps_the_first_columns_left_aligned():
    text = table(["set", "level", "messages"], [["dev", "urgent", "12"]], right_from=2)
    separator = _cells(text.splitlines()[1])
    assert [cell.endswith(":") and not cell.startswith(":") for cell in separator] == [False, False, True]


def test_fmt_shows_three_decimals_and_n_a():
    assert [fmt(0.9), fmt(1.0), fmt(None), fmt(12)] == ["0.900", "1.000", "n/a", "12"]
