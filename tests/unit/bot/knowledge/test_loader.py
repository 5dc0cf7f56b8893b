"""The knowledge loader: the real file is valid, and each kind of schema error
stops loading with the entry and field named."""

from __future__ import annotations

import copy
import re

import pytest

from bot.knowledge import (
    GENERAL,
    MESSAGES,
    PROCEDURES,
    TOPICS,
    KnowledgeError,
    load_knowledge,
)
from tests.fixtures import minimal_document, write

DOSE = re.compile(r"\b\d+(\.\d+)?\s?(mg|mcg|ml|cc|milligrams?|micrograms?|units?|tablets?|pills?)\b", re.I)


def test_real_file_is_valid_and_complete(knowledge):
    assert set(knowledge.entries) == {GENERAL, *PROCEDURES}
    for procedure in PROCEDURES:
        assert set(knowledge.entries[procedure].answers) == set(TOPICS), procedure
    assert knowledge.version
    assert set(knowledge.messages) == set(MESSAGES)


@pytest.mark.parametrize("procedure", PROCEDURES)
def test_every_answer_is_short_sourced_and_free_of_doses(knowledge, procedure):
    entry = knowledge.entries[procedure]
    assert entry.review.next_review_due > entry.review.reviewed_on
    for topic, answer in entry.answers.items():
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", answer.text) if s]
        assert 2 <= len(sentences) <= 5 or (answer.refer and len(sentences) >= 1), (topic, len(sentences))
        assert answer.sources or answer.refer, topic
        assert not DOSE.search(answer.text), (topic, DOSE.search(answer.text).group(0))
        assert "guarantee" not in answer.text.lower().replace("not guaranteed", ""), topic


def test_medication_answers_say_never_to_stop_without_the_prescriber(knowledge):
    for procedure in PROCEDURES:
        text = knowledge.answer(procedure, "medication_reliance").text.lower()
        assert "never stop" in text or "do not stop" in text or "don't stop" in text, procedure


def test_minimal_document_loads(tmp_path):
    knowledge = load_knowledge(write(tmp_path, minimal_document()))
    assert knowledge.version == "test-1"
    assert knowledge.triage.levels_of(["urgent_sign", "emergency_sign"]) == ["emergency", "urgent"]
    assert knowledge.answer("nerve_block", "risks").sources[0].publisher == "A hospital"
    assert knowledge.answer(GENERAL, "risks") is None


def entry(document, entry_id):
    return next(e for e in document["entries"] if e["id"] == entry_id)


def _drop_answer(d):
    del entry(d, "nerve_block")["answers"]["risks"]


def _unknown_source(d):
    entry(d, "nerve_block")["answers"]["cost"]["sources"] = ["nope"]


def _no_sources(d):
    entry(d, "nerve_block")["answers"]["cost"]["sources"] = []


def _bad_date(d):
    entry(d, "radiofrequency_ablation")["review"]["reviewed_on"] = "last spring"


def _review_order(d):
    entry(d, "radiofrequency_ablation")["review"]["next_review_due"] = "2025-01-01"


def _unknown_topic(d):
    entry(d, "iv_infusion")["answers"]["dosage"] = {"text": "x. y.", "sources": ["src"]}


def _empty_text(d):
    entry(d, "iv_infusion")["answers"]["risks"]["text"] = "   "


def _bad_url(d):
    entry(d, "joint_injection")["sources"][0]["url"] = "example.org/page"


def _missing_entry(d):
    d["entries"] = [e for e in d["entries"] if e["id"] != "physical_therapy"]


def _duplicate_entry(d):
    d["entries"].append(copy.deepcopy(entry(d, "nerve_block")))


def _unknown_id(d):
    entry(d, "nerve_block")["id"] = "acupuncture"


def _alias_clash(d):
    entry(d, "nerve_block")["aliases"].append("physical therapy alias")


def _missing_message(d):
    del d["messages"]["referral"]


def _bad_placeholder(d):
    d["messages"]["referral"] = "Call {clinic_fax}."


def _no_version(d):
    del d["version"]


def _refer_not_bool(d):
    entry(d, "nerve_block")["answers"]["cost"]["refer"] = "yes"


def _too_long(d):
    entry(d, "nerve_block")["answers"]["cost"]["text"] = "One. " * 8


def _no_triage(d):
    del d["triage"]


def _triage_unknown_level(d):
    d["triage"]["categories"][0]["level"] = "soon"


def _triage_missing_level(d):
    del d["triage"]["levels"]["urgent"]


def _triage_level_placeholder(d):
    d["triage"]["levels"]["crisis"]["message"] = "Call {crisis_fax}."


def _triage_unknown_source(d):
    d["triage"]["categories"][1]["sources"] = ["nope"]


def _triage_few_phrasings(d):
    d["triage"]["categories"][2]["phrasings"] = ["only one"]


def _triage_duplicate_category(d):
    d["triage"]["categories"].append(copy.deepcopy(d["triage"]["categories"][0]))


def _triage_level_without_category(d):
    d["triage"]["categories"] = [c for c in d["triage"]["categories"] if c["level"] != "crisis"]


def _triage_needs_procedure_not_bool(d):
    d["triage"]["categories"][2]["needs_procedure"] = "sometimes"


def _triage_no_review(d):
    del d["triage"]["review"]


def _kind_not_in_aliases(d):
    entry(d, "iv_infusion")["aliases"] = ["ketamine drip"]
    entry(d, "iv_infusion")["kinds"] = {"ketamine": ["ketamine"], "lidocaine": ["lidocaine"]}


def _kind_not_a_word(d):
    entry(d, "iv_infusion")["aliases"] = ["ketamine drip"]
    entry(d, "iv_infusion")["kinds"] = {"ketamine": ["ketamine drip"]}


def test_an_alias_names_its_kinds(tmp_path):
    document = minimal_document()
    entry(document, "iv_infusion")["aliases"] = ["ketamine drip", "lidocaine IV", "infusion"]
    entry(document, "iv_infusion")["kinds"] = {"ketamine": ["ketamine"], "lidocaine": ["Lidocaine"]}
    knowledge = load_knowledge(write(tmp_path, document))
    assert knowledge.alias_kinds["ketamine drip"] == "ketamine"
    assert knowledge.alias_kinds["lidocaine iv"] == "lidocaine"
    assert knowledge.alias_kinds["infusion"] == ""


@pytest.mark.parametrize(
    "mutate, entry_id, field",
    [
        (_kind_not_in_aliases, "iv_infusion", "kinds.lidocaine"),
        (_kind_not_a_word, "iv_infusion", "kinds.ketamine"),
        (_no_triage, None, "triage"),
        (_triage_unknown_level, "triage", "categories[0].level"),
        (_triage_missing_level, "triage", "levels.urgent"),
        (_triage_level_placeholder, "triage", "levels.crisis.message"),
        (_triage_unknown_source, "triage", "categories[1].sources"),
        (_triage_few_phrasings, "triage", "categories[2].phrasings"),
        (_triage_duplicate_category, "triage", "categories[3].id"),
        (_triage_level_without_category, "triage", "categories"),
        (_triage_needs_procedure_not_bool, "triage", "categories[2].needs_procedure"),
        (_triage_no_review, "triage", "review"),
        (_drop_answer, "nerve_block", "answers.risks"),
        (_unknown_source, "nerve_block", "answers.cost.sources"),
        (_no_sources, "nerve_block", "answers.cost.sources"),
        (_bad_date, "radiofrequency_ablation", "review.reviewed_on"),
        (_review_order, "radiofrequency_ablation", "review.next_review_due"),
        (_unknown_topic, "iv_infusion", "answers.dosage"),
        (_empty_text, "iv_infusion", "answers.risks.text"),
        (_bad_url, "joint_injection", "sources[0].url"),
        (_missing_entry, "physical_therapy", "id"),
        (_duplicate_entry, "nerve_block", "id"),
        (_unknown_id, "acupuncture", "id"),
        (_alias_clash, "physical_therapy", "aliases"),  # the second owner is named, with the first
        (_missing_message, None, "messages.referral"),
        (_bad_placeholder, None, "messages.referral"),
        (_no_version, None, "version"),
        (_refer_not_bool, "nerve_block", "answers.cost.refer"),
        (_too_long, "nerve_block", "answers.cost.text"),
    ],
)
def test_schema_errors_name_entry_and_field(tmp_path, mutate, entry_id, field):
    document = minimal_document()
    mutate(document)
    with pytest.raises(KnowledgeError) as raised:
        load_knowledge(write(tmp_path, document))
    assert raised.value.entry == entry_id
    assert raised.value.field == field
    if entry_id:
        assert f"entry '{entry_id}'" in str(raised.value)
    assert f"field '{field}'" in str(raised.value)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(KnowledgeError, match="cannot be read"):
        load_knowledge(tmp_path / "missing.yml")
    path = tmp_path / "broken.yml"
    path.write_text("version: 1\nentries: [unclosed\n")
    with pytest.raises(KnowledgeError, match="not valid YAML") as raised:
        load_knowledge(path)
    # Where to look, in words a person can use (not a parser's object address).
    assert "line 3, column 1:" in str(raised.value)
    assert "object at 0x" not in str(raised.value)
