"""The project-built spaCy pipeline finds procedures however patients write them."""

from __future__ import annotations

import pytest

from bot.nlp.spacy_pipeline import LABEL, build_pipeline, one_edit_variants, plural_forms


@pytest.fixture(scope="module")
def nlp(knowledge, tmp_path_factory):
    output = tmp_path_factory.mktemp("spacy") / "pipeline"
    build_pipeline(knowledge, output)
    import spacy

    return spacy.load(output)  # loaded back from disk, as Rasa's SpacyNLP does


def found(nlp, text):
    return [ent.ent_id_ for ent in nlp(text.lower()).ents if ent.label_ == LABEL]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("what is an ESI", "epidural_steroid_injection"),
        ("How long does RFA last", "radiofrequency_ablation"),
        ("is an scs trial painful", "spinal_cord_stimulation"),
        ("is an MBB painful?", "facet_joint_injection"),
        ("SI joint injection risks", "joint_injection"),
        ("si-joint injection", "joint_injection"),
        ("the shot in my back", "epidural_steroid_injection"),
        ("they want to do nerve burning", "radiofrequency_ablation"),
        ("what about the pain pump", "intrathecal_pump"),
        ("the stimulator", "spinal_cord_stimulation"),
        ("a cortisone shot in my knee", "joint_injection"),
        ("Epidurals", "epidural_steroid_injection"),
        ("trigger point injections", "trigger_point_injection"),
        ("ketamine infusions", "iv_infusion"),
        ("physio", "physical_therapy"),
        ("epidoral", "epidural_steroid_injection"),
        ("radiofrequency ablasion", "radiofrequency_ablation"),
        ("spinal cord stimulater", "spinal_cord_stimulation"),
        ("medial branch blocks", "facet_joint_injection"),
        ("occipital nerve block", "nerve_block"),
        ("interventional pain management", "general"),
    ],
)
def test_procedure_names(nlp, text, expected):
    assert found(nlp, text) == [expected]


@pytest.mark.parametrize(
    "text", ["my back hurts", "an injection", "burning pain in my leg", "what is the weather"]
)
def test_no_procedure(nlp, text):
    assert found(nlp, text) == []


def test_longest_match_wins(nlp):
    assert found(nlp, "genicular nerve block") == ["nerve_block"]
    assert found(nlp, "genicular nerve ablation") == ["radiofrequency_ablation"]


def test_variant_helpers():
    assert plural_forms("injection") == {"injection", "injections"}
    assert "therapies" in plural_forms("therapy")
    assert "epidoral" in one_edit_variants("epidural")
    assert "epidural" not in one_edit_variants("epidural") - {"epidural"}


def annotated_mentions(path):
    """Every ``procedure`` span annotated in a Rasa NLU file, with its example."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(str(path))
    for message in data.intent_examples:
        for entity in message.get("entities") or []:
            if entity["entity"] == "procedure":
                yield message.get("text"), entity["start"], entity["end"]


def test_every_mention_annotated_in_the_training_data_is_found(nlp):
    from tests.conftest import ROOT

    missed = [
        (text[start:end], text)
        for path in sorted((ROOT / "data").glob("nlu*.yml"))
        for text, start, end in annotated_mentions(path)
        if not any(ent.start_char < end and start < ent.end_char for ent in nlp(text.lower()).ents)
    ]
    assert not missed, missed
