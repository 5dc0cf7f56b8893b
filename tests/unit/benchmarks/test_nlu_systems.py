"""The pipeline `make evaluate` trains as "this project": config.yml without the question matcher."""

from __future__ import annotations

from rasa.shared.utils.io import read_yaml

from benchmarks.nlu_systems import (
    NOT_NLU_COMPONENTS,
    PROJECT_CONFIG,
    project_sweep_system,
    project_system,
    without_question_matcher,
)


def _names(config_text: str):
    return [c["name"] for c in read_yaml(config_text)["pipeline"]]


def test_the_project_is_config_yml_less_the_question_matcher(tmp_path):
    original = read_yaml(PROJECT_CONFIG.read_text(encoding="utf-8"))
    assert any(c["name"] in NOT_NLU_COMPONENTS for c in original["pipeline"])  # it is there to leave out
    for system in (project_system(tmp_path), project_sweep_system(tmp_path)):
        evaluated = read_yaml(system.config_text)
        kept = [c for c in original["pipeline"] if c["name"] not in NOT_NLU_COMPONENTS]
        names = [c["name"] for c in evaluated["pipeline"]]
        assert names == [c["name"] for c in kept]
        for key in ("language", "policies", "recipe"):
            assert evaluated.get(key) == original.get(key), key
    # Every other component keeps its settings exactly.
    assert read_yaml(project_system(tmp_path).config_text)["pipeline"] == [
        c for c in original["pipeline"] if c["name"] not in NOT_NLU_COMPONENTS
    ]


def test_a_config_without_the_matcher_is_left_as_written():
    text = "recipe: default.v1\nlanguage: en\npipeline:\n- name: WhitespaceTokenizer\n"
    assert without_question_matcher(text) == text
    assert _names(without_question_matcher(text)) == ["WhitespaceTokenizer"]
