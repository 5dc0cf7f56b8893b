"""Leave one writer out (`python -m benchmarks.triage --by-writer`): each file is scored only by a
model that never saw it."""

from __future__ import annotations

import yaml

from benchmarks import triage as bench

ORDINARY = ["what is an epidural", "how long does rfa last", "can i drive after a nerve block", "hello"] * 3


def _writer(path, texts, none):
    path.write_text(yaml.safe_dump({"version": 1, "categories": {**texts, "none": none}}), encoding="utf-8")
    return path


def test_each_file_is_scored_by_a_model_trained_without_it(tmp_path, capsys):
    first = _writer(
        tmp_path / "triage_examples.yml",
        {"overdose": ["he took all his pills and wont wake up", "she swallowed the whole bottle"]},
        ["i took my pills on time today"],
    )
    # A phrase only the second writer uses: a model that saw it would catch it.
    second = _writer(
        tmp_path / "triage_examples_2.yml",
        {"overdose": ["zorbly glimmax quorp"]},
        ["what time is my appointment"],
    )
    result = bench.by_writer(bench.guard_settings(), paths=[first, second], negatives=ORDINARY)
    assert list(result) == ["triage_examples.yml", "triage_examples_2.yml"]
    emergency = result["triage_examples_2.yml"]["levels"]["emergency"]
    assert emergency["total"] == 1 and emergency["recall"] == 0.0  # never seen: not caught
    assert result["triage_examples_2.yml"]["negatives"]["total"] == 1
    assert result["triage_examples.yml"]["levels"]["emergency"]["total"] == 2
    assert bench.print_by_writer(result, tmp_path / "out") == 0
    assert (tmp_path / "out" / "by_writer.json").exists()
    assert "all: emergency" in capsys.readouterr().out
