"""The one YAML reader: same data from either parser, and errors that say where."""

import pytest
import yaml

from bot import yamlfile
from bot.knowledge import DEFAULT_KNOWLEDGE_PATH
from bot.settings import DEFAULT_SETTINGS_PATH


@pytest.mark.parametrize("path", [DEFAULT_KNOWLEDGE_PATH, DEFAULT_SETTINGS_PATH])
def test_the_project_files_read_the_same_as_with_the_pure_python_parser(path):
    text = path.read_text(encoding="utf-8")
    assert yamlfile.safe_load(text) == yaml.load(text, Loader=yaml.SafeLoader)


def test_the_c_parser_is_used_when_pyyaml_has_it():
    assert yamlfile.LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_python_objects_are_refused():
    with pytest.raises(yaml.YAMLError) as raised:
        yamlfile.safe_load("a: !!python/object:os.system ls\n")
    assert "line 1, column 4:" in yamlfile.problem(raised.value)


@pytest.mark.parametrize(
    "text, where",
    [("a: [1, 2\nb: 3\n", "line 2, column 2:"), ("a:\n  - b\n c: d\n", "line 3, column 2:")],
)
def test_a_syntax_error_names_its_line_and_column(text, where):
    with pytest.raises(yaml.YAMLError) as raised:
        yamlfile.safe_load(text)
    assert yamlfile.problem(raised.value).startswith(where)
