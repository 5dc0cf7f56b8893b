"""Reading the project's YAML files (knowledge, clinic settings, triage examples).

One reader for all of them: PyYAML's safe loader, through libyaml's C parser when
PyYAML was built with it (about nine times faster on the 600 KB knowledge file;
both parsers build the same data), and one way to say where a file is broken.
"""

from __future__ import annotations

from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """The data of one YAML document, built by the safe loader (no Python objects)."""
    return yaml.load(text, Loader=LOADER)  # noqa: S506 - a safe loader


def problem(error: yaml.YAMLError) -> str:
    """What is wrong and where, for a person fixing the file: ``line 4, column 7: ...``."""
    if isinstance(error, yaml.MarkedYAMLError):
        text = error.problem or error.context or type(error).__name__
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            return f"line {mark.line + 1}, column {mark.column + 1}: {text}"
        return str(text)
    return str(error) or type(error).__name__
