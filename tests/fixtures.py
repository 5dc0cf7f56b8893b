"""Knowledge documents built in code, for tests that need a small or broken file."""

from __future__ import annotations

import copy

import yaml

from bot.knowledge import BUTTONS, GENERAL, LEVELS, MESSAGES, PROCEDURES, TOPICS


def minimal_document():
    """The smallest valid knowledge document, built in code for mutation tests."""
    source = [{"id": "src", "title": "A page", "publisher": "A hospital", "url": "https://example.org/page"}]
    review = {"reviewed_on": "2026-01-01", "reviewed_by": "Dr Test", "next_review_due": "2026-07-01"}

    def entry(entry_id, topics):
        return {
            "id": entry_id,
            "name": entry_id.replace("_", " ").title(),
            "short_name": entry_id[:20],
            "aliases": [] if entry_id == GENERAL else [entry_id.replace("_", " ") + " alias"],
            "sources": copy.deepcopy(source),
            "review": dict(review),
            "answers": {t: {"text": "This is what we know. It varies.", "sources": ["src"]} for t in topics},
        }

    return {
        "version": "test-1",
        "topics": {t: t.title() for t in TOPICS},
        "buttons": {b: b.title() for b in BUTTONS},
        "messages": {m: "This is a message from {clinic_name}. Call us." for m in MESSAGES},
        "entries": [entry(GENERAL, ["overview"])] + [entry(p, TOPICS) for p in PROCEDURES],
        "triage": {
            "review": dict(review),
            "sources": copy.deepcopy(source),
            "levels": {
                level: {
                    "label": level.title(),
                    "message": f"{level}: call {{emergency_number}}.",
                    "then": "Then us.",
                }
                for level in LEVELS
            },
            "crisis_check": "If you think of hurting yourself, call {crisis_line}.",
            "categories": [
                {
                    "id": f"{level}_sign",
                    "level": level,
                    "label": f"A {level} sign",
                    "phrasings": [f"{level} one", f"{level} two", f"{level} three"],
                    "sources": ["src"],
                }
                for level in LEVELS
            ],
        },
    }


def write(tmp_path, document):
    path = tmp_path / "knowledge.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
