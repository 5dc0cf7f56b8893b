"""The deterministic red-flag guard.

Runs on every patient message before normal handling (see
``bot.nlp.components.RedFlagGuard``). It looks for descriptions of symptoms that
need urgent care or a crisis line, and tells reports ("I suddenly can't feel my
legs") apart from general questions ("can an epidural cause leg numbness?"), which
are ordinary questions about risks and must not trigger emergency instructions.

Self-harm always triggers, whatever the phrasing: a crisis line is never a harmful
reply to someone who raises it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional, Pattern

SELF_HARM = "self_harm"

# Category -> symptom pattern. Patterns work on the normalised text (lowercase,
# straight apostrophes, single spaces).
_CANT = r"(?:can ?'?t|cannot|can not|unable to|couldn ?'?t|could not|cant)"
_LEGS = r"(?:legs?|foot|feet|toes?|knees?|thighs?)"
_SYMPTOMS: Dict[str, str] = {
    SELF_HARM: (
        r"\b(?:kill(?:ing)? my ?self|end(?:ing)? (?:my|it) (?:life|all)|end it all"
        r"|take my (?:own )?life|suicid\w*|(?:want|wanna|wish|going) (?:to )?(?:be )?(?:die|dead)"
        r"|better off dead|no (?:point|reason) (?:in )?(?:living|going on|to live|being alive)"
        r"|(?:hurt|harm|cut)(?:ing)? my ?self|self[- ]?harm"
        r"|(?:don ?'?t|do not|dont) want to (?:live|be alive|wake up|be here)"
        r"|overdose on purpose|not worth living|better off without me|(?:wants?|wishe?s?) (?:to )?(?:be )?(?:die|dead)"
        r"|saving (?:up )?(?:my |all my )?(?:pills|meds|medications?|tablets)|take (?:\w+ ){0,2}all at once"
        r"|(?:not|never) (?:be )?(?:here|around|alive) any ?more|plan to (?:end|not be)"
        r"|(?:want|wish) (?:it|this|everything) (?:all )?to (?:be over|end)|over for good)"
    ),
    "cardio_respiratory": (
        r"\b(?:chest (?:pain|pains|hurts?|tight\w*|pressure|is tight|feels tight)|pain in (?:my|his|her) chest"
        r"|heart attack|" + _CANT + r" (?:breathe|breath|catch (?:my|his|her) breath|get air)"
        r"|(?:trouble|difficulty|problems?|struggling|hard|hard time) (?:to )?breath\w*|short(?:ness)? of breath"
        r"|gasping|struggling for air|throat (?:\w+ ){0,4}(?:closing|swell\w*|tight)|(?:face|lips?|tongue|throat) (?:is |are |got |started )?(?:swell\w*|puff\w*)"
        r"|passed out|passing out|fainted|blacked out)"
    ),
    "cauda_equina": (
        r"\b(?:(?:lost|losing|loss of|lose|no|can ?'?t|cannot|cant) (?:the )?(?:control (?:of |over )?)?"
        r"(?:my |his |her )?(?:bladder|bowels?|pee|urine|poop)(?: control)?"
        r"|(?:wet|peed|pooped|soiled|messed) (?:my|him|her)self"
        r"|(?:numb|no feeling|"
        + _CANT
        + r" feel (?:anything|a thing)) (?:\w+ ){0,2}down there|wet the bed|accident in (?:my|his|her) (?:pants|underwear)|leaking (?:urine|pee)|peeing myself"
        r"|(?:haven ?'?t|havent|hasn ?'?t|not) been able to (?:pee|urinate)|"
        + _CANT
        + r" (?:start to |go )?(?:pee|urinate|hold it)"
        r"|(?:numb\w*|no feeling|tingl\w*|pins and needles) (?:\w+ ){0,4}(?:groin|saddle|privates?|private (?:area|parts)|genitals?|crotch|buttocks|bottom|between (?:my|the) legs|inner thighs)"
        r"|(?:groin|saddle|privates|private (?:area|parts)|genitals?|crotch|buttocks|butt|bottom|inner thighs)(?: and (?:my )?\w+)?"
        r" (?:area )?(?:is |are |feels? |went |gone )?(?:numb|dead)"
        r"|" + _CANT + r" (?:pee|urinate|empty my bladder|hold my (?:pee|urine|bowels?)))"
    ),
    "neuro": (
        r"\b(?:"
        + _CANT
        + r" (?:move|feel|lift|stand on|walk on|bend) (?:\w+ ){0,3}"
        + _LEGS
        + r"|"
        + _CANT
        + r" (?:stand|walk)(?: up)?\b"
        + r"|(?:sudden|suddenly|new|getting) (?:\w+ ){0,3}(?:weak|weakness|numb|numbness|paralys\w*|paralyz\w*)"
        + r"|"
        + _LEGS
        + r" (?:\w+ ){0,2}(?:gave out|giving out|gave way|buckl\w*|(?:is|are|feels?|went|gone|going|keeps? going) (?:\w+ )?(?:numb|weak|dead|limp))"
        + r"|(?:numb|weak|dead|limp|no feeling) (?:\w+ ){0,3}(?:in )?(?:both |my |his |her )?"
        + _LEGS
        + r"|"
        + _LEGS
        + r" (?:wouldn ?'?t|won ?'?t|wont|wouldnt|didn ?'?t|don ?'?t|dont) hold"
        + r"|keep (?:on )?falling|paralys\w*|paralyz\w*|foot drop|dragging my (?:leg|foot))"
    ),
    "pump": (
        r"\b(?:pump\w* (?:\w+ ){0,8}(?:alarm\w*|beep\w*|chirp\w*|going off|went off|goes off|buzz\w*|stopped|overdue|was due|missed)"
        r"|(?:sweating|shaking|twitching|itch\w*|drowsy|sleepy|confused|groggy) (?:\w+ ){0,8}pump"
        r"|(?:alarm\w*|beep\w*) (?:\w+ ){0,5}pump"
        r"|withdraw(?:al|ing)"
        r"|(?:"
        + _CANT
        + r"|hard to|struggl\w* to) (?:stay awake|wake (?:him|her|me|up)|keep (?:my|his|her) eyes open))"
    ),
    "spinal_headache": (
        r"\b(?:(?:severe|worst|terrible|awful|horrible|bad|pounding|splitting|excruciating|killer|really bad|massive|huge|unbearable)"
        r" (?:\w+ ){0,2}head ?aches?"
        r"|head(?: ?aches?)? (?:\w+ ){0,6}(?:when|if|whenever) (?:i |im |i'm |he |she )?(?:sit|stand|get up|upright)\w*"
        r"|head ?aches? (?:\w+ ){0,12}(?:upright|so bad|unbearable|terrible|awful|worst|severe)"
        r"|(?:pounding|splitting|throbbing) head\b|head (?:hurts?|is killing me|is pounding) (?:so |really )?(?:bad|badly|much)"
        r"|(?:can only|have to) (?:lie|lay) (?:flat|down)"
        r"|head ?aches? (?:\w+ ){0,6}(?:better|goes away|eases) (?:\w+ ){0,3}(?:lie|lying|lay) down"
        r"|(?:spinal|epidural|puncture) head ?aches?)"
    ),
    "infection": (
        r"\b(?:(?:site|incision|wound|cut|stitches|spot|puncture|scar|implant)"
        r" (?:\w+ ){0,6}(?:red|hot|warm|swollen|swelling|draining|drains|oozing|leaking|pus|infected|smells?|opened|weeping)"
        r"|\b(?:pus|oozing|weeping)\b"
        r"|(?:looks?|is|got|getting|seems?) infected)"
    ),
}

# A fever is a red flag after a procedure, not on its own ("my kid has a fever").
_FEVER = r"\b(?:fever\w*|chills|temperature of|high temperature|running a temp)\b"
_PROCEDURE_CONTEXT = (
    r"\b(?:injections?|injected|procedures?|shots?|surgery|implant\w*|incision|site|pump|stimulator|block"
    r"|epidural|ablation|rfa|infusion|wound|needle|trial|esi|scs)\b"
)

# Phrases that frame a message as a general question about risks, not a report.
_HYPOTHETICAL = (
    r"\b(?:risks?|side[- ]?effects?|complications?|chances?|likel(?:y|ihood)|possible|common|rare|dangers?"
    r"|warning signs?|signs of|symptoms of|what if|what happens if|if (?:i|you|he|she|we|they|it|my|the)\b"
    r"|if (?:a|an)\b|will i|am i going to|how do i know|how would i know|could|would|might|how often|is there a|are there"
    r"|what should i do if|(?:years?|months?|a while|long time) ago|last (?:week|month|year)|years back"
    r"|in the past|history of|used to"
    r"|(?:can|does|do|will) (?:an?|the|it|this|that|these|those|they|epidurals?|ablations?|rfa|injections?"
    r"|procedures?|shots?|blocks?|stimulators?|scs|pumps?|infusions?|ketamine|lidocaine|steroids?|cortisone) )\b"
)

# Phrases that make a message a report of something happening now, even when
# it also contains question words ("is it normal that I suddenly can't...").
_REPORT = (
    r"(?:(?<!if )\bi (?:just|suddenly|now|lost|ve lost|m losing|am losing|am having|m having)\b"
    r"|\b(?:im|i'm|ive|i've) (?:having|losing|lost|suddenly)\b"
    r"|\bright now\b|\bsuddenly\b|\ball of a sudden\b"
    r"|\bsince (?:my|the|this|yesterday|last|then|i)\b"
    r"|\bthis (?:morning|afternoon|evening)\b|\blast night\b|\btonight\b|\btoday\b|\bstarted\b"
    r"|\bwon'?t stop\b|\bkeeps?\b|\bnow (?:i|my|it|its|there|the|one)\b"
    r"|\b(?:my|his|her) (?:legs?|feet|foot|bladder|bowels?|groin|bottom|head|chest|site|incision|wound|pump"
    r"|husband|wife|mom|dad|son|daughter)"
    r" (?:is|are|feels?|went|has|have|keeps?|can'?t)\b"
    r"|\b(?:im|i'm|i am) (?!wondering|thinking|asking|curious|worried|planning|going|looking|trying|hoping"
    r"|considering|scheduled)\w+ing\b)"
)

_COMPILED: Dict[str, Pattern[str]] = {}


def _patterns() -> Dict[str, Pattern[str]]:
    if not _COMPILED:
        for category, pattern in _SYMPTOMS.items():
            _COMPILED[category] = re.compile(pattern)
        _COMPILED["_fever"] = re.compile(_FEVER)
        _COMPILED["_procedure_context"] = re.compile(_PROCEDURE_CONTEXT)
        _COMPILED["_hypothetical"] = re.compile(_HYPOTHETICAL)
        _COMPILED["_report"] = re.compile(_REPORT)
    return _COMPILED


@dataclass(frozen=True)
class RedFlag:
    """A red flag found in a message: which kind, and the words that raised it."""

    category: str
    matched: str


def normalise(text: str) -> str:
    """Lowercase, straight apostrophes, no markup, single spaces."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"<[^>]{0,200}>", " ", text)
    text = re.sub(r"[^\w'?]+", " ", text)
    return " ".join(text.split())


def detect_red_flag(text: Optional[str]) -> Optional[RedFlag]:
    """Returns the red flag a message raises, or ``None``.

    Self-harm wins over every other category so that a person in crisis always
    gets the crisis line first.
    """
    if not text or not text.strip():
        return None
    patterns = _patterns()
    clean = normalise(text[:5000])
    match = patterns[SELF_HARM].search(clean)
    if match:
        return RedFlag(SELF_HARM, match.group(0))
    is_report = bool(patterns["_report"].search(clean))
    is_question = bool(patterns["_hypothetical"].search(clean))
    if is_question and not is_report:
        return None
    for category in _SYMPTOMS:
        if category == SELF_HARM:
            continue
        match = patterns[category].search(clean)
        if match:
            return RedFlag(category, match.group(0))
    fever = patterns["_fever"].search(clean)
    if fever and patterns["_procedure_context"].search(clean):
        return RedFlag("infection", fever.group(0))
    return None
