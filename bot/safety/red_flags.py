"""The deterministic red-flag rules: the floor under the triage classifier.

``bot.safety.triage`` combines these rules with a classifier trained on many
varied examples; a rule hit always raises its category, whatever the classifier
says. The rules look for descriptions of symptoms that need the emergency number,
a crisis line or the clinic today, and tell reports ("I suddenly can't feel my
legs") apart from general questions ("can an epidural cause leg numbness?"), which
are ordinary questions about risks and must not trigger emergency instructions.

Category ids are those of the knowledge file's ``triage.categories``. Self-harm
always triggers, whatever the phrasing: a crisis line is never a harmful reply to
someone who raises it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Pattern

SELF_HARM = "suicide_self_harm"

# Category -> symptom pattern. Patterns work on the normalised text (lowercase,
# straight apostrophes, single spaces).
_CANT = r"(?:can ?'?t|cannot|can not|unable to|couldn ?'?t|could not|cant)"
_LEGS = r"(?:legs?|foot|feet|toes?|knees?|thighs?)"
_SYMPTOMS: Dict[str, str] = {
    SELF_HARM: (
        r"\b(?:kill(?:ing)? my ?self|end(?:ing)? (?:my|it) (?:life|all)|end it all"
        r"|take my (?:own )?life|suicid\w*|(?:want|wanna|wish|going) (?:to )?(?:be )?(?:die|dead)"
        r"|better off dead|(?:no|what ?'?s the|whats the|what is the) (?:point|reason|use) (?:in |of )?(?:living|going on"
        r"|to live|being alive|carrying on)"
        r"|(?:hurt|harm|cut)(?:ing)? my ?self|self[- ]?harm"
        r"|(?:don ?'?t|do not|dont) want to (?:live|be alive|wake up|be here)"
        r"|overdose on purpose|not worth living|better off without me|(?:wants?|wishe?s?) (?:to )?(?:be )?(?:die|dead)"
        r"|saving (?:up )?(?:my |all my )?(?:pills|meds|medications?|tablets)|take (?:\w+ ){0,2}all at once"
        r"|(?:not|never) (?:be )?(?:here|around|alive) any ?more|plan to (?:end|not be)"
        r"|(?:want|wish) (?:it|this|everything) (?:all )?to (?:be over|end)|over for good"
        r"|done with (?:life|living|everything|it all|being alive)|(?:only|last) thing keeping me (?:here|alive|going)"
        r"|ends? it all|end things|signing off (?:for the last time|for good|forever)|(?:made|writing|wrote) (?:a |my )?will\b"
        r"|who gets what|(?:goodbye|suicide) (?:note|letter)|(?:cut|cutting|burn\w*|scratch\w*) (?:my |his |her )?(?:arms?|legs?|wrists?|skin|thighs?) (?:\w+ ){0,2}(?:till|until) (?:they|it) (?:bled|bleed)"
        r"|(?:giving|gave) (?:away )?(?:all )?(?:my|his|her) (?:stuff|things|dog|cat|guns?) away|done done"
        r"|(?:note|letter|message|text) (?:\w+ ){0,8}(?:sorry|goodbye|good bye|love you all)|love you all"
        r"|(?:just )?wanted (?:it|the pain|everything|this) (?:all )?to (?:stop|end|be over)|took (?:\w+ ){0,5}on purpose)"
    ),
    "allergic_reaction": (
        r"\b(?:throat (?:\w+ ){0,4}(?:closing|swell\w*|tight)"
        r"|(?:face|lips?|tongue|throat|eyelids?) (?:is |are |got |started |keeps? )?(?:swell\w*|puff\w*)"
        r"|(?:swell\w*|puff\w*) (?:up )?(?:of |in )?(?:my |his |her )?(?:face|lips?|tongue|throat)"
        r"|anaphyla\w*|allergic reaction)"
    ),
    "chest_breathing_fainting": (
        r"\b(?:chest (?:pain|pains|hurts?|tight\w*|pressure|is tight|feels tight)|pain in (?:my|his|her) chest"
        r"|heart attack|" + _CANT + r" (?:breathe|breath|catch (?:my|his|her) breath|get air)"
        r"|(?:trouble|difficulty|problems?|struggling|hard|hard time) (?:to )?breath\w*|short(?:ness)? of breath"
        r"|gasping|struggling for air"
        r"|passed out|passing out|fainted|blacked out)"
    ),
    "overdose": (
        r"\b(?:took (?:\w+ ){0,2}too (?:many|much)|(?:taken|had|given) (?:\w+ ){0,2}too (?:many|much)"
        r"|(?:took|swallowed|taken|downed) (?:all|everything|the whole|the rest|a handful|a bunch|a lot|loads|way more|double|triple|extra)\b"
        r"|overdos(?:ed|ing)|(?:an|had an|having an|taken an) overdose|od ?'?d"
        r"|(?:gave|given|give|giving|used|sprayed|had to use) (?:\w+ ){0,3}(?:narcan|naloxone)"
        r"|(?:narcan|naloxone) (?:\w+ ){0,3}(?:given|gave|used|worked|twice|again)"
        r"|"
        + _CANT
        + r" (?:wake|rouse) (?:him|her|them|my \w+)(?: up)?|(?:won ?'?t|wont|will not|not) wak(?:e|ing) up"
        r"|(?:lips|face) (?:are |is |look |looks |turned |turning |going )?(?:blue|grey|gray)"
        r"|(?:"
        + _CANT
        + r"|hard to|struggl\w* to) (?:stay awake|wake (?:him|her|me|up)|keep (?:my|his|her) eyes open))"
    ),
    "stroke_vision": (
        r"\b(?:(?:face|mouth|smile) (?:is |looks |looked |was |went |is going )?(?:droop\w*|lopsided|crooked)|droop\w* (?:face|mouth)"
        r"|slurr\w*|stroke|"
        + _CANT
        + r" (?:see|talk|speak|get (?:my|his|her) words out)\b|(?:lost|losing|loss of) (?:my |his |her )?(?:vision|sight|eyesight)"
        r"|(?:gone|went) blind|double vision)"
    ),
    "fever_stiff_neck": (
        r"\b(?:(?:stiff|stif|rigid) neck|neck (?:is |feels )?(?:so |really )?(?:stiff|stif|rigid)|stiffness in (?:my |his |her |the )?neck|"
        + _CANT
        + r" bend (?:my|his|her) neck)"
    ),
    "heavy_bleeding": (
        r"\b(?:(?:won ?'?t|wont|will not|doesn ?'?t|does not|not) stop(?:ped)? bleeding|bleeding (?:a lot|heavily|badly|everywhere|through)"
        r"|(?:soak\w*|soaked) (?:\w+ ){0,3}(?:with |in |through )?blood|blood (?:is )?(?:everywhere|pouring|gushing|soaking|spurting|squirting)"
        r"|(?:spurt\w*|gush\w*|pour\w*|squirt\w*|pumping) (?:out )?blood|soak\w* (?:through )?(?:\w+ ){0,3}(?:gauze|pads?|bandages?|dressings?|towels?))"
    ),
    "stated_emergency": (
        r"\b(?:(?:this|it) is an emergency|it ?'?s an emergency|emergency ?!|call (?:an |the )?ambulance"
        r"|(?:need|needs) (?:an )?ambulance|help me (?:now|please)|(?:need|needs) help (?:right )?now|sos|mayday)"
    ),
    "bladder_bowel_saddle": (
        r"\b(?:(?:lost|losing|loss of|lose|no|can ?'?t|cannot|cant) (?:the )?(?:control (?:of |over )?)?"
        r"(?:my |his |her )?(?:bladder|bowels?|pee|urine|poop)(?: control)?"
        r"|(?:wet|peed|pooped|soiled|messed) (?:my|him|her)self"
        r"|(?:numb|no feeling|"
        + _CANT
        + r" feel (?:anything|a thing)) (?:\w+ ){0,2}down there|wet the bed|accident in (?:my|his|her) (?:pants|underwear)|leaking (?:urine|pee)|peeing myself"
        r"|(?:haven ?'?t|havent|hasn ?'?t|not) been able to (?:pee|urinate)"
        r"|(?:haven ?'?t|havent|hasn ?'?t|hasnt|not) (?:peed|urinated|passed (?:any )?(?:urine|water)|gone to pee)"
        r" (?:at all |once )?(?:since|all day|all night|in (?:\w+ )?(?:hours|a day)|for (?:\w+ )?(?:hours|a day))|"
        + _CANT
        + r" (?:start to |go )?(?:pee|urinate|hold it)"
        r"|(?:numb\w*|no feeling|tingl\w*|pins and needles) (?:\w+ ){0,4}(?:groin|saddle|privates?|private (?:area|parts)|genitals?|crotch|buttocks|bottom|between (?:my|the) legs|inner thighs)"
        r"|(?:groin|saddle|privates|private (?:area|parts)|genitals?|crotch|buttocks|butt|bottom|inner thighs)(?: and (?:my )?\w+)?"
        r" (?:area )?(?:is |are |feels? |went |gone )?(?:numb|dead)"
        r"|" + _CANT + r" (?:pee|urinate|empty my bladder|hold my (?:pee|urine|bowels?)))"
    ),
    "limb_weakness_numbness": (
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
    "pump_problem": (
        r"\b(?:(?:bulge|bulging|lump|sticking out|flipped|turned over) (?:\w+ ){0,6}pump|pump (?:\w+ ){0,4}(?:bulg\w*|flipped|turned over|sticking out)"
        r"|pump\w* (?:\w+ ){0,8}(?:alarm\w*|beep\w*|chirp\w*|going off|went off|goes off|buzz\w*|stopped|overdue|was due|missed)"
        r"|(?:sweating|shaking|twitching|itch\w*|drowsy|sleepy|confused|groggy) (?:\w+ ){0,8}pump"
        r"|(?:alarm\w*|beep\w*) (?:\w+ ){0,5}pump"
        r"|withdraw(?:al|ing))"
    ),
    "stimulator_problem": (
        r"\b(?:(?:bulge|bulging|sticking out|poking) (?:\w+ ){0,6}(?:battery|stimulator|ipg|generator)|(?:battery|stimulator|ipg|generator) (?:\w+ ){0,4}(?:bulg\w*|sticking out|poking (?:out|through))"
        r"|(?:stimulator|stim|scs|device|battery|ipg|leads?) (?:\w+ ){0,6}(?:shock\w*|jolt\w*|zapp?\w*)"
        r"|(?:shock\w*|jolt\w*|zapp\w*) (?:\w+ ){0,5}(?:stimulator|stim|scs|device))"
    ),
    "positional_headache": (
        r"\b(?:(?:severe|worst|terrible|awful|horrible|bad|pounding|splitting|excruciating|killer|really bad|massive|huge|unbearable)"
        r" (?:\w+ ){0,2}head ?aches?"
        r"|head(?: ?aches?)? (?:\w+ ){0,6}(?:when|if|whenever) (?:i |im |i'm |he |she )?(?:sit|stand|get up|upright)\w*"
        r"|head ?aches? (?:\w+ ){0,12}(?:upright|so bad|unbearable|terrible|awful|worst|severe)"
        r"|(?:pounding|splitting|throbbing) head\b|head (?:hurts?|is killing me|is pounding) (?:so |really )?(?:bad|badly|much)"
        r"|(?:can only|have to) (?:lie|lay) (?:flat|down)"
        r"|head ?aches? (?:\w+ ){0,6}(?:better|goes away|eases) (?:\w+ ){0,3}(?:lie|lying|lay) down"
        r"|(?:spinal|epidural|puncture) head ?aches?)"
    ),
    "wound_infection": (
        r"\b(?:(?:site|incision|wound|cut|stitches|spot|puncture|scar|implant)"
        r" (?:\w+ ){0,6}(?:red|hot|warm|swollen|swelling|draining|drains|oozing|leaking|pus|infected|smells?|opened|weeping)"
        r"|\b(?:pus|oozing|weeping)\b"
        r"|(?:looks?|is|got|getting|seems?) infected)"
    ),
}

# A fever is a red flag after a procedure, not on its own ("my kid has a fever").
_FEVER = r"\b(?:fever\w*|fevr\w*|fver|feaver|fevor|chills|temperature of|high temperature|running a temp)\b"
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


def detect_red_flags(text: Optional[str]) -> List[RedFlag]:
    """Every red-flag category the rules find in a message, self-harm first.

    A message framed as a general question about risks, or about the past, raises
    nothing but self-harm (which always triggers). A fever counts after a
    procedure (``fever_after_procedure``) and, with a stiff neck or a severe
    headache, as ``fever_stiff_neck``; a stiff neck alone is not a red flag.
    """
    if not text or not text.strip():
        return []
    patterns = _patterns()
    clean = normalise(text[:5000])
    found: List[RedFlag] = []
    match = patterns[SELF_HARM].search(clean)
    if match:
        found.append(RedFlag(SELF_HARM, match.group(0)))
    is_report = bool(patterns["_report"].search(clean))
    is_question = bool(patterns["_hypothetical"].search(clean))
    if is_question and not is_report:
        return found
    fever = patterns["_fever"].search(clean)
    for category in _SYMPTOMS:
        if category == SELF_HARM:
            continue
        match = patterns[category].search(clean)
        if match and (category != "fever_stiff_neck" or fever):
            found.append(RedFlag(category, match.group(0)))
    if fever:
        if patterns["positional_headache"].search(clean) and not any(
            f.category == "fever_stiff_neck" for f in found
        ):
            found.append(RedFlag("fever_stiff_neck", fever.group(0)))
        if patterns["_procedure_context"].search(clean):
            found.append(RedFlag("fever_after_procedure", fever.group(0)))
    return found


def framed_as_question(text: Optional[str]) -> bool:
    """Whether a message reads as a general question (about risks, the past), not a report."""
    patterns = _patterns()
    clean = normalise((text or "")[:5000])
    return bool(patterns["_hypothetical"].search(clean)) and not patterns["_report"].search(clean)


def detect_red_flag(text: Optional[str]) -> Optional[RedFlag]:
    """The first red flag the rules find (self-harm wins), or ``None``."""
    found = detect_red_flags(text)
    return found[0] if found else None
