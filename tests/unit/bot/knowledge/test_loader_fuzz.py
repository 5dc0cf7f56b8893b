"""The knowledge loader under random and malformed files: a KnowledgeError naming the entry and
field, never another exception type."""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge import DEFAULT_KNOWLEDGE_PATH, KnowledgeBase, KnowledgeError, load_knowledge
from tests.strategies import any_text, examples


def _small(document: Dict[str, Any]) -> Dict[str, Any]:
    """The real file cut down (one source and alias per entry, and the aliases naming a kind,
    one-sentence answers, a few question items): still valid, and quick enough to write and load
    a hundred times."""
    small = copy.deepcopy(document)
    for entry in small["entries"]:
        entry["sources"] = entry["sources"][:1]
        aliases = entry["aliases"][:1]
        kind_words = {w for words in (entry.get("kinds") or {}).values() for w in words}
        # the kinds stay checked: the aliases naming a kind stay too
        aliases += [a for a in entry["aliases"][1:] if set(re.findall(r"\w+", a.lower())) & kind_words]
        entry["aliases"] = aliases
        for answer in entry["answers"].values():
            answer["text"] = answer["text"].split(". ")[0].rstrip(".") + "."
            if answer.get("sources"):
                answer["sources"] = [entry["sources"][0]["id"]]
        for condition in entry.get("conditions") or []:
            condition["sources"] = [entry["sources"][0]["id"]]
    if small.get("questions"):
        kept = {s["id"] for s in small["questions"].get("sources") or []}
        kept |= {e["sources"][0]["id"] for e in small["entries"]}
        items = small["questions"]["items"][:6]
        for item in items:  # only the sources the cut-down file still has
            item["sources"] = [i for i in item["sources"] if i in kept] or [sorted(kept)[0]]
        small["questions"]["items"] = items
    return small


DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
REAL = _small(yaml.safe_load(DEFAULT_KNOWLEDGE_PATH.read_text(encoding="utf-8")))

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates(),
    st.sampled_from(["", " ", "{clinic_name:{x}}", "{nope}", "{0}", "{}", "{", "}", "a" * 300, "2024-13-45"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none()), children, max_size=3
        ),
    ),
    max_leaves=8,
)


def load_text(tmp_path: Path, text: Any) -> KnowledgeBase:
    path = tmp_path / "knowledge.yml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return load_knowledge(path)


def paths(node: Any, prefix: Tuple = ()) -> List[Tuple]:
    """Every key path into a YAML document."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, prefix + (index,))
    return found


ALL_PATHS = paths(REAL)


def expect_knowledge_error_or_success(tmp_path: Path, document: Any) -> Any:
    try:
        text = yaml.dump(document, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
        return load_text(tmp_path, text)
    except KnowledgeError as error:
        assert error.field and error.problem, error
        assert "field '" in str(error)
        return error


@settings(max_examples=examples(40))
@given(
    path=st.sampled_from(ALL_PATHS),
    change=st.one_of(st.just("delete"), st.just("unknown key"), yaml_values),
)
def test_any_changed_field_gives_a_knowledge_error_naming_entry_and_field(tmp_path, path, change):
    document = copy.deepcopy(REAL)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if change == "delete":
        if isinstance(parent, list):
            parent.pop(last)
        else:
            del parent[last]
    elif change == "unknown key":
        if not isinstance(parent, dict):
            return
        parent["surprise_field"] = "x"
    else:
        parent[last] = change
    result = expect_knowledge_error_or_success(tmp_path, document)
    in_entry = len(path) >= 3 and path[0] == "entries" and isinstance(path[1], int)
    if isinstance(result, KnowledgeError) and in_entry and path[2] not in ("id", "name", "aliases"):
        # A change inside one entry (other than to what can clash with another entry) names that entry.
        assert result.entry == REAL["entries"][path[1]]["id"], (path, str(result))


@settings(max_examples=examples(60))
@given(yaml_values)
def test_any_yaml_document_gives_a_knowledge_error(tmp_path, document):
    with pytest.raises(KnowledgeError):
        load_text(tmp_path, yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=examples(60))
@given(st.one_of(any_text, st.binary(max_size=200)))
def test_any_text_or_bytes_gives_a_knowledge_error(tmp_path, text):
    with pytest.raises(KnowledgeError):
        load_text(tmp_path, text)


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe\x00garbage",  # not UTF-8
        "version: 1\nentries: [{id: general, review: {reviewed_on: 2024-13-45}}]",  # impossible date
        "a: &a [*a]",  # a recursive alias
        "- " * 1200,  # deeper than Python's recursion limit
        "[" * 1200,
        "!!python/object:os.system {}",  # unsafe tag
        "version: 1\nentries:\n  - {1: 2, [a]: b}",
        "{? [a, b] : c}",
        "\t",
    ],
    ids=range(9),
)
def test_malformed_files(tmp_path, text):
    with pytest.raises(KnowledgeError) as error:
        load_text(tmp_path, text)
    assert error.value.field


def test_mixed_type_keys_name_the_field(tmp_path):
    document = copy.deepcopy(REAL)
    document["entries"][1]["answers"][5] = {"text": "x", "refer": True}
    document["entries"][1]["answers"][None] = {"text": "x", "refer": True}
    error = expect_knowledge_error_or_success(tmp_path, document)
    assert isinstance(error, KnowledgeError)
    assert error.entry == REAL["entries"][1]["id"] and error.field.startswith("answers.")


def test_a_message_that_cannot_be_filled_is_refused(tmp_path):
    document = copy.deepcopy(REAL)
    document["messages"]["referral"] = "Call {clinic_phone:{oops}}"
    error = expect_knowledge_error_or_success(tmp_path, document)
    assert isinstance(error, KnowledgeError) and error.field == "messages.referral"


def test_the_real_file_still_loads(tmp_path):
    assert load_knowledge().version
    assert isinstance(load_text(tmp_path, yaml.safe_dump(REAL)), KnowledgeBase)  # the cut-down base
    assert isinstance(REAL["entries"][0]["review"]["reviewed_on"], dt.date)
