"""Builds the project's own spaCy pipeline from the knowledge file.

No pretrained English model can be downloaded here, so the bot uses a blank
English pipeline (spaCy's rule-based tokenizer) plus an ``entity_ruler`` whose
patterns come from every entry's name and aliases. Each alias token matches its
plural forms too, words of six letters or more (``epidural``, ``stimulator``) also
match one-letter misspellings, and hyphens between words are optional, so "SI-joint",
"si joint", "epidurals" and "ablasion" are all found. Each match carries the
entry id as its entity id, which ``bot.nlp.components.ProcedureEntityExtractor``
turns into the ``procedure`` entity.

Run ``python -m bot.nlp.spacy_pipeline [OUT_DIR]``; Rasa's ``SpacyNLP`` loads the
result by path (see ``config.yml``).
"""

from __future__ import annotations

import argparse
import string
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Set, Tuple, cast

from bot.knowledge import KnowledgeBase, KnowledgeError, load_knowledge

if TYPE_CHECKING:
    from spacy.pipeline import EntityRuler

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "build" / "spacy_pipeline"
LABEL = "PROCEDURE"
PIPELINE_NAME = "pain_clinic_procedures"
MIN_TYPO_LENGTH = 6


def plural_forms(word: str) -> Set[str]:
    """The word and its likely plural (and singular) spellings."""
    forms = {word}
    if not word.isalpha():
        return forms
    if word.endswith("y") and len(word) > 3 and word[-2] not in "aeiou":
        forms.add(word[:-1] + "ies")
    elif word.endswith(("s", "x", "ch", "sh")):
        forms.add(word + "es")
    else:
        forms.add(word + "s")
    if word.endswith("s") and len(word) > 3 and not word.endswith("ss"):
        forms.add(word[:-1])
    return forms


def one_edit_variants(word: str) -> Set[str]:
    """Every spelling one insertion, deletion, swap or substitution away."""
    letters = string.ascii_lowercase
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return deletes | swaps | replaces | inserts


def procedure_spans(doc: Any) -> List[Tuple[int, int, str]]:
    """``(start, end, entry id)`` of each procedure the entity ruler found in a spaCy ``doc``.

    The one reading of a parsed message's procedures: the ``procedure`` entities
    (``ProcedureEntityExtractor``) and the words the intent classifier masks
    (``MaskedTfidfIntentClassifier``) both come from it. ``None`` (no parse) has none.
    """
    if doc is None:
        return []
    found = [ent for ent in doc.ents if ent.label_ == LABEL and ent.ent_id_]
    return [(ent.start_char, ent.end_char, ent.ent_id_) for ent in found]


def build_patterns(knowledge: KnowledgeBase, tokenize) -> List[Dict]:
    """Entity-ruler token patterns for every entry's name and aliases.

    Args:
        knowledge: the validated knowledge base.
        tokenize: a callable turning a text into a list of lowercase tokens.

    """
    phrases = {
        entry_id: [tokenize(alias) for alias in aliases] for entry_id, aliases in knowledge.aliases().items()
    }
    owners: Dict[str, Set[str]] = defaultdict(set)
    for entry_id, token_lists in phrases.items():
        for tokens in token_lists:
            for token in tokens:
                owners[token].add(entry_id)

    def variants(token: str) -> List[str]:
        forms = plural_forms(token)
        if len(token) >= MIN_TYPO_LENGTH and token.isalpha():
            # A misspelling may not be an alias word of an entry this word does
            # not belong to ("nerves" must stay a nerve word, say).
            forms |= {v for v in one_edit_variants(token) if owners.get(v, owners[token]) <= owners[token]}
        return sorted(forms)

    patterns = []
    seen = set()
    for entry_id, token_lists in phrases.items():
        for tokens in token_lists:
            if not tokens or tuple(tokens) in seen:
                continue
            seen.add(tuple(tokens))
            pattern: List[Dict] = []
            for index, token in enumerate(tokens):
                if token == "-":
                    continue
                if index and pattern:
                    pattern.append({"ORTH": "-", "OP": "?"})
                pattern.append({"LOWER": {"IN": variants(token)}})
            patterns.append({"label": LABEL, "pattern": pattern, "id": entry_id})
    return patterns


def build_pipeline(knowledge: KnowledgeBase, output: Path):
    """Builds the pipeline for ``knowledge``, writes it to ``output`` and returns it."""
    import spacy

    nlp = spacy.blank("en")

    def tokenize(text: str) -> List[str]:
        return [token.lower_ for token in nlp.make_doc(text)]

    # spaCy types add_pipe's result as the base Pipe; "entity_ruler" makes an EntityRuler.
    ruler = cast(
        "EntityRuler", nlp.add_pipe("entity_ruler", config={"overwrite_ents": True, "validate": True})
    )
    ruler.add_patterns(build_patterns(knowledge, tokenize))
    major, minor = spacy.__version__.split(".")[:2]
    nlp.meta.update(
        {
            "name": PIPELINE_NAME,
            "version": "1.0.0",
            "description": f"Tokenizer and procedure patterns, knowledge version {knowledge.version}",
            "spacy_version": f">={spacy.__version__},<{major}.{int(minor) + 1}.0",
        }
    )
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    return nlp


def main(argv: Optional[Iterable[str]] = None) -> int:
    """Command line: build the pipeline from the knowledge file in force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--knowledge", type=Path, default=None, help="knowledge file (default: the bundled one)"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        knowledge = load_knowledge(args.knowledge)
    except KnowledgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    nlp = build_pipeline(knowledge, args.output)
    patterns = len(nlp.get_pipe("entity_ruler").patterns)
    print(f"spaCy pipeline with {patterns} procedure patterns written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
