"""Specific question items: the loader's checks, the decision, and the replies built from them."""

from __future__ import annotations

import copy

import pytest

from bot.knowledge import GENERAL, TOPICS, KnowledgeError, load_knowledge
from bot.questions import ANY, ITEM, NOT_COVERED, SUMMARY, Decision, conditions_named, decide, decisions
from bot.replies import Responder
from tests.fixtures import minimal_document, write

REVIEW = {"reviewed_on": "2026-01-01", "reviewed_by": "Dr Test", "next_review_due": "2026-07-01"}


def document_with_items():
    document = minimal_document()
    document["topics"]["implants"] = "Implants and scans"
    document["questions"] = {
        "summaries": {"risks": ["what are the risks", "is it safe", "any side effects"]},
        "sources": [
            {"id": "maker", "title": "MRI page", "publisher": "A maker", "url": "https://example.org/mri"}
        ],
        "items": [
            {
                "id": "scs_mri",
                "topic": "implants",
                "procedures": ["spinal_cord_stimulation", "intrathecal_pump"],
                "asked": ["can i have an mri", "is an mri safe with it", "mri scan with my implant"],
                "text": "Some systems allow an MRI under set conditions. Tell the MRI team first.",
                "sources": ["maker", "src"],
                "review": dict(REVIEW),
            }
        ],
    }
    document["conditions"] = {"sciatica": {"name": "sciatica", "aliases": ["pain down my leg"]}}
    document["entries"][1]["conditions"] = [{"id": "sciatica", "sources": ["src"]}]
    return document


def load(tmp_path, document):
    return load_knowledge(write(tmp_path, document))


def test_items_topics_conditions_and_summaries_load(tmp_path):
    knowledge = load(tmp_path, document_with_items())
    item = knowledge.item("scs_mri")
    assert item.procedures == ("spinal_cord_stimulation", "intrathecal_pump")
    assert [s.id for s in item.sources] == ["maker", "src"]  # shared, then the procedure's own
    assert item.applies_to("intrathecal_pump") and not item.applies_to("epidural_steroid_injection")
    assert [i.id for i in knowledge.items_for("intrathecal_pump")] == ["scs_mri"]
    assert list(knowledge.topic_labels)[: len(TOPICS)] == list(TOPICS)
    assert knowledge.topic_labels["implants"] == "Implants and scans"
    assert knowledge.summary_asked["risks"][1] == "is it safe"
    assert [e.id for e in knowledge.treats("sciatica")] == ["epidural_steroid_injection"]


@pytest.mark.parametrize(
    "change, entry, field_name",
    [
        (lambda d: d["questions"]["items"][0].update(topic="weather"), "scs_mri", "topic"),
        (lambda d: d["questions"]["items"][0].update(procedures=["acupuncture"]), "scs_mri", "procedures"),
        (lambda d: d["questions"]["items"][0].update(procedures=[]), "scs_mri", "procedures"),
        (lambda d: d["questions"]["items"][0].update(asked=["only one"]), "scs_mri", "asked"),
        (lambda d: d["questions"]["items"][0].update(sources=["nowhere"]), "scs_mri", "sources"),
        (lambda d: d["questions"]["items"][0].update(sources=[]), "scs_mri", "sources"),
        (lambda d: d["questions"]["items"][0].pop("review"), "scs_mri", "review"),
        (lambda d: d["questions"]["items"][0].update(text=""), "scs_mri", "text"),
        (lambda d: d["questions"]["items"][0].update(text="A {placeholder}. Two."), "scs_mri", "text"),
        (lambda d: d["questions"]["items"][0].update(extra=1), "scs_mri", "extra"),
        (
            lambda d: d["questions"]["items"].append(copy.deepcopy(d["questions"]["items"][0])),
            "scs_mri",
            "id",
        ),
        (lambda d: d["questions"]["items"][0].update(id="Bad Id"), "questions", "items[0].id"),
        (
            lambda d: d["questions"]["summaries"].update(aftercare=["a", "b", "c"]),
            "questions",
            "summaries.aftercare",
        ),
        (lambda d: d["questions"]["summaries"].update(risks=["one"]), "questions", "summaries.risks"),
        (
            lambda d: d["entries"][1]["conditions"].append({"id": "gout", "sources": ["src"]}),
            None,
            "conditions",
        ),
        (
            lambda d: d["entries"][1]["conditions"][0].update(sources=["nowhere"]),
            None,
            "conditions[0].sources",
        ),
        (lambda d: d["topics"].pop("risks"), None, "topics.risks"),
    ],
)
def test_a_broken_item_or_condition_names_where(tmp_path, change, entry, field_name):
    document = document_with_items()
    change(document)
    with pytest.raises(KnowledgeError) as error:
        load(tmp_path, document)
    if entry is not None:
        assert error.value.entry == entry
    assert error.value.field.startswith(field_name)


@pytest.fixture
def small(tmp_path):
    return load(tmp_path, document_with_items())


def test_only_items_for_the_procedure_compete(small):
    probabilities = {"scs_mri": 0.5, "summary:risks": 0.1, "other": 0.4}
    assert decide(probabilities, "spinal_cord_stimulation", small, 0.4, 0.4) == Decision(
        ITEM, "scs_mri", 0.5, "risks"
    )
    # an epidural conversation: the MRI item does not apply; what is left is not the summary's
    for_esi = decide(probabilities, "epidural_steroid_injection", small, 0.4, 0.4)
    assert for_esi.kind == NOT_COVERED and for_esi.closest == "risks"
    assert decide({"summary:risks": 0.6, "other": 0.4}, None, small, 0.4, 0.4).kind == SUMMARY
    assert decide({"scs_mri": 0.3, "other": 0.7}, None, small, 0.4, 0.4).kind == NOT_COVERED
    assert decide({}, None, small, 0.4, 0.4).kind == NOT_COVERED
    every = decisions(probabilities, small, 0.4, 0.4)
    assert set(every) == set(small.entries) | {ANY}
    assert Decision.from_dict(every[ANY]).name == "scs_mri"
    assert Decision.from_dict({"kind": "nonsense"}) is None


def test_conditions_are_found_by_name_or_alias(small):
    assert conditions_named("What can help my SCIATICA?", small) == ["sciatica"]
    assert conditions_named("i get pain down my leg", small) == ["sciatica"]
    assert conditions_named("what is an epidural", small) == []


def match_for(procedure, kind, name=None, closest=None):
    decision = {"kind": kind, "name": name, "confidence": 0.9, "closest": closest}
    return {procedure: decision, ANY: decision, "conditions": []}


def test_an_item_answers_with_the_referral_and_names_itself(knowledge, responder, referral):
    item = next(iter(knowledge.items.values()))
    procedure = item.procedures[0]
    outcome = responder.answer_question(
        "ask_risks", [], {"procedure": procedure}, match=match_for(procedure, ITEM, item.id)
    )
    assert outcome.texts == [item.text, referral]
    assert outcome.kind == "item"
    assert outcome.slots["last_answer"] == f"{procedure}/{item.topic}/{item.id}"
    assert outcome.slots["topic"] == item.topic
    sources = responder.sources(outcome.slots["last_answer"]).texts[0]
    assert all(s.url in sources for s in item.sources)


def test_nothing_covers_it_so_it_says_so_and_offers_the_summary_only_as_such(knowledge, responder, referral):
    outcome = responder.answer_question(
        "ask_risks",
        ["epidural_steroid_injection"],
        {},
        match=match_for("epidural_steroid_injection", NOT_COVERED, closest="risks"),
    )
    first, second, last = outcome.texts
    assert first == knowledge.messages["not_covered"]
    assert second.endswith(knowledge.answer("epidural_steroid_injection", "risks").text)
    assert "may not answer" in second
    assert last == referral
    assert outcome.kind == "not_covered"


def test_an_item_for_a_treatment_asks_which_when_none_is_known(small, settings):
    responder = Responder(small, settings)
    item = small.item("scs_mri")
    match = {p: {"kind": NOT_COVERED, "closest": "risks"} for p in small.entries}
    for procedure in item.procedures:
        match[procedure] = {"kind": ITEM, "name": item.id, "confidence": 0.9}
    match[ANY] = {"kind": ITEM, "name": item.id, "confidence": 0.9}
    outcome = responder.answer_question("ask_risks", [], {}, match=match)
    (question,) = outcome.replies
    assert question.text == small.messages["ask_which_procedure"].format(**settings.template_values())
    assert len(question.buttons) == len(small.procedures)
    # the patient then names a treatment: the item for it, or plainly "not covered"
    answered = responder.answer_question("inform", [item.procedures[1]], outcome.slots)
    assert answered.texts[0] == item.text
    other = responder.answer_question("inform", ["epidural_steroid_injection"], outcome.slots)
    assert other.kind == "not_covered"
    # a button naming the item (several treatments share it) answers it for that treatment
    assert responder.item_answer(item, GENERAL).slots["pending_question"] == item.id
    named = responder.answer_question("ask_procedure", ["epidural_steroid_injection"], {}, question=item.id)
    assert named.kind == "not_covered"


def test_the_fallback_and_out_of_scope_answer_only_a_strong_item(knowledge, responder, referral):
    item = next(iter(knowledge.items.values()))
    procedure = item.procedures[0]
    sure = match_for(procedure, ITEM, item.id)
    sure[procedure]["strong"] = True
    assert responder.not_understood(procedure, sure).texts == [item.text, referral]
    assert responder.out_of_scope(sure, procedure).texts == [item.text, referral]
    unsure = match_for(procedure, ITEM, item.id)  # likely enough to answer a question, not to overrule
    not_understood = responder.not_understood(procedure, unsure).texts[0]
    assert not_understood.startswith(knowledge.messages["fallback"][:20])
    assert responder.out_of_scope(unsure, procedure).texts[0] == responder.out_of_scope().texts[0]


def test_asking_for_the_clinic_gets_the_referral_unless_an_item_surely_answers(
    knowledge, responder, referral
):
    item = next(i for i in knowledge.items.values() if i.applies_to(GENERAL))
    sure = match_for(GENERAL, ITEM, item.id)
    sure[ANY]["strong"] = True
    assert responder.specialist(sure).texts == [item.text, referral]  # "do I need a referral?"
    unsure = match_for(GENERAL, ITEM, item.id)
    assert responder.specialist(unsure).texts == responder.specialist().texts
    assert responder.specialist().texts == [responder.message("specialist_contact")]


def test_with_no_procedure_a_general_item_that_fell_short_among_all_answers_when_sure_among_general(
    knowledge, responder, referral
):
    item = next(i for i in knowledge.items.values() if i.applies_to(GENERAL))
    short = {"kind": NOT_COVERED, "name": item.id, "confidence": 0.45, "closest": item.topic}
    sure = {"kind": ITEM, "name": item.id, "confidence": 0.8, "closest": item.topic, "strong": True}
    match = {ANY: short, GENERAL: sure, "conditions": []}
    assert responder.answer_question("ask_preparation", [], {}, match=match).texts == [item.text, referral]
    # the likeliest among all was another question: no general item is put in its place
    other = next(i for i in knowledge.items.values() if i.id != item.id)
    match[ANY] = {**short, "name": other.id}
    assert responder.answer_question("ask_preparation", [], {}, match=match).kind != "item"
    # not sure among the general questions either: no item
    match[ANY], match[GENERAL] = short, {**sure, "strong": False, "confidence": 0.55}
    assert responder.answer_question("ask_preparation", [], {}, match=match).kind != "item"


def test_a_general_question_taken_for_out_of_scope_gets_its_summary_when_sure(knowledge, responder, referral):
    procedure = "epidural_steroid_injection"
    sure = match_for(procedure, SUMMARY, "recovery_time")
    sure[procedure] = {**sure[procedure], "strong": True}
    assert responder.out_of_scope(sure, procedure).texts == [
        knowledge.answer(procedure, "recovery_time").text,
        referral,
    ]
    # no procedure known: which treatment? (never the summary of one picked at random)
    sure[ANY] = {**sure[ANY], "strong": True}
    assert responder.out_of_scope(sure, None).kind == "ask_procedure"
    unsure = match_for(procedure, SUMMARY, "recovery_time")
    assert responder.out_of_scope(unsure, procedure).texts[0] == responder.out_of_scope().texts[0]
    assert decide({"summary:risks": 0.8, "other": 0.2}, None, knowledge, 0.5, 0.5, 0.7).strong
    assert not decide({"summary:risks": 0.6, "other": 0.4}, None, knowledge, 0.5, 0.5, 0.7).strong


def test_a_payload_naming_an_item_answers_it(knowledge, responder):
    item = next(iter(knowledge.items.values()))
    outcome = responder.answer_question("ask_procedure", [item.procedures[0]], {}, question=item.id)
    assert outcome.texts[0] == item.text


def test_a_condition_lists_the_procedures_the_file_names_for_it(knowledge, responder, referral):
    condition = next(c for c in knowledge.conditions if knowledge.treats(c))
    match = {ANY: {"kind": NOT_COVERED}, "conditions": [condition]}
    outcome = responder.answer_question("ask_candidacy", [], {}, match=match)
    text, last = outcome.texts
    assert last == referral and outcome.kind == "condition"
    for entry in knowledge.treats(condition):
        assert entry.name in text
    sources = responder.sources(outcome.slots["last_answer"]).texts[0]
    assert knowledge.treats(condition)[0].conditions[condition][0].url in sources


def test_a_comparison_is_one_short_side_by_side(knowledge, responder, referral):
    outcome = responder.answer_question(
        "ask_procedure", ["nerve_block", "radiofrequency_ablation"], {}, match=None
    )
    text, last = outcome.texts
    assert last == referral and outcome.kind == "compare"
    for topic in ("overview", "recovery_time", "relief_duration", "risks"):
        assert knowledge.topic_labels[topic] in text
    assert len(text) < 2000
    assert "radiofrequency" in responder.sources(outcome.slots["last_answer"]).texts[0].lower()


def test_every_item_passes_through_the_responder(knowledge, settings):
    responder = Responder(knowledge, settings)
    for item in knowledge.items.values():
        for procedure in item.procedures:
            outcome = responder.item_answer(item, procedure)
            assert outcome.texts[0] == item.text, item.id


def test_a_condition_told_in_passing_is_not_answered_with_treatments(knowledge, responder):
    match = {ANY: {"kind": NOT_COVERED}, "conditions": ["headache_migraine"]}
    for intent in ("ask_recovery_time", "ask_risks", "ask_preparation"):
        outcome = responder.answer_question(intent, [], {}, match=match)
        assert outcome.kind != "condition", intent
    # in a conversation about a procedure, only a candidacy question lists treatments
    in_conversation = {"procedure": "epidural_steroid_injection"}
    assert responder.answer_question("ask_procedure", [], in_conversation, match=match).kind != "condition"
    assert responder.answer_question("ask_candidacy", [], in_conversation, match=match).kind == "condition"


def test_without_a_procedure_it_asks_which_and_keeps_each_procedures_decision(knowledge, responder):
    item = next(iter(knowledge.items.values()))
    procedure = item.procedures[0]
    match = {p: {"kind": NOT_COVERED, "closest": "recovery_time"} for p in knowledge.entries}
    match[procedure] = {"kind": ITEM, "name": item.id, "confidence": 0.8}
    match[ANY] = {"kind": NOT_COVERED, "closest": "recovery_time"}
    asked = responder.answer_question("ask_recovery_time", [], {}, match=match)
    assert asked.kind == "ask_procedure"
    assert all(b.payload.startswith("/inform") for b in asked.replies[0].buttons)
    # the patient picks the procedure the item is for: that item; another one: not covered
    assert responder.answer_question("inform", [procedure], asked.slots).texts[0] == item.text
    other = next(p for p in knowledge.procedures if p.id != procedure and not item.applies_to(p.id))
    assert responder.answer_question("inform", [other.id], asked.slots).kind == "not_covered"


def test_a_sure_item_only_one_treatment_has_is_answered_without_asking_which(knowledge, responder, referral):
    """"Is lidocaine safe with heart problems?" names its treatment in other words."""
    item = next(i for i in knowledge.items.values() if len(i.procedures) == 1 and not i.applies_to(GENERAL))
    (procedure,) = item.procedures
    match = {p: {"kind": NOT_COVERED, "closest": "risks"} for p in knowledge.entries}
    match[procedure] = {"kind": ITEM, "name": item.id, "confidence": 0.9, "strong": True}
    match[ANY] = {"kind": ITEM, "name": item.id, "confidence": 0.8, "strong": True}
    outcome = responder.answer_question("ask_risks", [], {}, match=match)
    assert outcome.kind == ITEM and outcome.texts == [item.text, referral]
    assert outcome.slots["procedure"] == procedure
    # likely enough among every treatment's questions, but not sure: which treatment?
    match[ANY] = {"kind": ITEM, "name": item.id, "confidence": 0.6}
    assert responder.answer_question("ask_risks", [], {}, match=match).kind == "ask_procedure"
    # an item several treatments share: which one, even when sure
    shared = next(i for i in knowledge.items.values() if len(i.procedures) > 1 and not i.applies_to(GENERAL))
    match[ANY] = {"kind": ITEM, "name": shared.id, "confidence": 0.9, "strong": True}
    assert responder.answer_question("ask_risks", [], {}, match=match).kind == "ask_procedure"


def test_every_answer_is_one_message_in_every_channel(knowledge, responder):
    # Rasa's output channels split a text at blank lines: no reply may hold one.
    outcomes = [responder.compare(["nerve_block", "radiofrequency_ablation"])]
    outcomes += [responder.condition(c) for c in knowledge.conditions]
    outcomes += [responder.not_covered(p.id, "risks") for p in knowledge.procedures]
    outcomes += [responder.item_answer(i, i.procedures[0]) for i in knowledge.items.values()]
    for outcome in outcomes:
        assert all("\n\n" not in text for text in outcome.texts)
