"""QuestionMatcher: trained on the real knowledge file's items, saved, loaded, and what it adds.

Trained here on a fifth of the real items (every fifth one, all their wordings, and every
summary): the same code on the same kind of data, in a few seconds instead of twenty.
The matcher trained on the whole file is checked in tests/test_question_items.py (nlu).
"""

from __future__ import annotations

import re

import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import knowledge as knowledge_module
from bot import yamlfile
from bot.knowledge import DEFAULT_KNOWLEDGE_PATH, KNOWLEDGE_ENV_VAR, KnowledgeBase, load_knowledge
from bot.nlp.question_matcher import QuestionMatcher, QuestionModel, item_examples, masked
from bot.questions import ANY, ITEM, MATCH_KEY

NLU = [
    ("hello there", "greet"),
    ("hi", "greet"),
    ("thanks a lot", "thank"),
    ("what is the weather like", "out_of_scope"),
    ("tell me a joke", "out_of_scope"),
    ("bye", "goodbye"),
    ("what are the risks of an epidural", "ask_risks"),  # ask_* examples are not used
]


@pytest.fixture(scope="module")
def fifth(tmp_path_factory) -> KnowledgeBase:
    """The real knowledge file with every fifth question item, in force while the module runs."""
    document = yamlfile.safe_load(DEFAULT_KNOWLEDGE_PATH.read_text(encoding="utf-8"))
    document["questions"]["items"] = document["questions"]["items"][::5]
    path = tmp_path_factory.mktemp("knowledge") / "knowledge.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KNOWLEDGE_ENV_VAR, str(path))
        knowledge_module.get_knowledge.cache_clear()
        yield load_knowledge(path)
    knowledge_module.get_knowledge.cache_clear()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fifth):
    assert len(fifth.items) >= 40 and knowledge_module.get_knowledge().items.keys() == fifth.items.keys()
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    resource = Resource("question_matcher")
    context = ExecutionContext(GraphSchema({}), "test")
    matcher = QuestionMatcher.create(QuestionMatcher.get_default_config(), storage, resource, context)
    data = TrainingData([Message(data={"text": t, "intent": i}) for t, i in NLU])
    matcher.train(data)
    loaded = QuestionMatcher.load(QuestionMatcher.get_default_config(), storage, resource, context)
    return matcher, loaded


def message(text: str, intent: str = "ask_risks", confidence: float = 0.5) -> Message:
    return Message(data={"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": []})


def test_names_are_masked_the_same_in_items_and_messages(knowledge):
    assert (
        masked("Can I drive after my Spinal Cord Stimulator?", knowledge)
        == "can i drive after my zzprocedure ?"
    )
    texts = [text for text, _ in item_examples(knowledge)]
    assert len(texts) >= sum(len(i.asked) for i in knowledge.items.values())


def test_a_kind_of_procedure_stays_after_the_mask(knowledge):
    assert masked("Is a lidocaine infusion safe?", knowledge) == "is a zzprocedure lidocaine safe?"
    assert masked("ketamine drip or gel shot", knowledge) == "zzprocedure ketamine or zzprocedure gel"
    assert masked("side effects of the infusion", knowledge) == "side effects of the zzprocedure"
    # General questions are learnt with a kind too, so a kind alone does not make one specific.
    summaries = [text for text, label in item_examples(knowledge) if label.startswith("summary:")]
    for kind in ("ketamine", "lidocaine", "gel"):
        assert any(f"zzprocedure {kind}" in text for text in summaries), kind


def test_a_name_for_the_whole_procedure_keeps_no_kind(knowledge):
    # "IV infusions for pain (ketamine and lidocaine)" names both kinds: it is the whole procedure.
    for entry in knowledge.entries.values():
        assert masked(f"what is {entry.name}?", knowledge).startswith("what is zzprocedure"), entry.id
        words = re.findall(r"\w+", masked(f"what is {entry.name.lower()}", knowledge))
        assert words == ["what", "is", "zzprocedure"], entry.id
    assert masked("ketamine drip", knowledge) == "zzprocedure ketamine"


def test_plurals_and_hyphens_are_masked_as_the_entity_ruler_finds_them(knowledge):
    assert masked("are stellate ganglion blocks safe", knowledge) == "are zzprocedure stellate safe"
    assert masked("what are hyaluronic acid injections", knowledge) == "what are zzprocedure gel"
    assert masked("SI-joint injection ok?", knowledge) == "zzprocedure ok?"
    assert masked("nerve ablations hurt?", knowledge) == "zzprocedure hurt?"
    # the ruler's plural forms (bot.nlp.spacy_pipeline.plural_forms), whatever the word ends in
    assert masked("are headache nerve blocks ok", knowledge) == "are zzprocedure occipital ok"
    assert masked("do home exercise help", knowledge) == masked("do home exercises help", knowledge)
    assert masked("do home exercise help", knowledge) == "do zzprocedure help"
    # a name's words are joined by spaces or hyphens only, never across other marks
    assert masked("my epidural, shot was fine", knowledge) == "my zzprocedure , shot was fine"
    assert masked("does this hurt", knowledge) == "does this hurt"


def test_an_item_asked_as_written_is_matched_for_its_procedure_and_saved_alike(trained, fifth):
    matcher, loaded = trained
    item = next(iter(fifth.items.values()))
    for component in (matcher, loaded):
        (parsed,) = component.process([message(item.asked[0])])
        match = parsed.get(MATCH_KEY)
        decision = match[item.procedures[0]]
        assert (decision["kind"], decision["name"]) == (ITEM, item.id)
        assert set(match) == set(fifth.entries) | {ANY, "conditions"}
    assert parsed.get("intent")["name"] == "ask_risks"  # a real intent is never changed
    assert parsed.get("entities") == []  # nor are entities (benchmarks/evaluate.py relies on it)


def test_a_sure_item_is_marked_strong_and_unreadable_input_gets_no_match(trained, fifth):
    matcher, _ = trained
    threshold = QuestionMatcher.get_default_config()["strong_threshold"]
    strong = 0
    for item in fifth.items.values():
        (parsed,) = matcher.process([message(item.asked[0], "nlu_fallback", 0.2)])
        decision = parsed.get(MATCH_KEY)[item.procedures[0]]
        sure = decision["kind"] in (ITEM, "summary") and decision["confidence"] >= threshold
        assert decision["strong"] == sure  # an item, or a general question's summary
        strong += decision["strong"] and decision["kind"] == ITEM
        assert parsed.get("intent")["name"] == "nlu_fallback"  # intents are never changed
    assert strong >= len(fifth.items) // 2  # most items' own wording is matched surely
    unreadable = message(item.asked[0], "nlu_fallback", 1.0)
    unreadable.set("unreadable", True)
    (parsed,) = matcher.process([unreadable])
    assert parsed.get(MATCH_KEY) is None


def test_small_talk_is_no_item(trained):
    matcher, _ = trained
    (parsed,) = matcher.process([message("hello there", "greet", 0.9)])
    assert parsed.get(MATCH_KEY)[ANY]["kind"] != ITEM


def test_an_untrained_matcher_adds_nothing(tmp_path):
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(GraphSchema({}), "test")
    empty = QuestionMatcher.load({}, storage, Resource("never_trained"), context)
    (parsed,) = empty.process([message("can I have an MRI")])
    assert parsed.get(MATCH_KEY) is None


def test_a_health_intent_leaves_no_room_for_asks_no_health_question(trained):
    """Said with an ask_* intent, a general question gets its summary even if it looks
    like small talk in the matcher's eyes ("how much does it cost?" next to "how much does
    it cost to rent a car"); with a small-talk intent it does not."""
    matcher, _ = trained
    (asked,) = matcher.process([message("how much does it cost", "ask_cost", 0.9)])
    assert (asked.get(MATCH_KEY)[ANY]["kind"], asked.get(MATCH_KEY)[ANY]["name"]) == ("summary", "cost")
    (greeting,) = matcher.process([message("hello there", "greet", 0.9)])
    assert greeting.get(MATCH_KEY)[ANY]["kind"] == "not_covered"


@pytest.mark.parametrize("solver", ["liblinear", "lbfgs"])
def test_both_solvers_give_probabilities_that_sum_to_one(solver):
    texts = ["can i drive home", "may i drive myself", "can i shower", "is a bath ok", "hello", "hi there"]
    labels = ["drive", "drive", "wash", "wash", "other", "other"]
    model = QuestionModel({"solver": solver, "char_min_df": 1}).fit(texts, labels)
    (row,) = model.by_class(["can i drive home"])
    assert abs(sum(row.values()) - 1) < 1e-9 and max(row, key=row.get) == "drive"
    (unknown,) = model.by_class(["qqqq"])
    assert unknown == {"drive": 0.0, "other": 1.0, "wash": 0.0}  # no known n-gram: other


def test_two_classes_and_a_wrong_solver():
    model = QuestionModel({"char_min_df": 1}).fit(
        ["can i drive", "hello", "may i drive", "hi"], ["drive", "other"] * 2
    )
    (row,) = model.by_class(["can i drive"])
    assert set(row) == {"drive", "other"} and row["drive"] > 0.5 and abs(sum(row.values()) - 1) < 1e-9
    with pytest.raises(ValueError, match="solver must be one of"):
        QuestionModel({"solver": "newton"}).fit(["a", "b"], ["x", "y"])
