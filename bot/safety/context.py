"""What a message says is happening now: negated, past and "what if" parts left out.

Triage must tell "I can't feel my legs" from "no numbness, just sore", "years ago
my leg gave out once" and "what if my legs go numb?". Word and character n-grams
cannot: they see the same words. Before the triage rules and classifier read a
message, :func:`current` removes the parts of it that do not describe something
happening now, in the spirit of the ConText algorithm used on clinical notes
(Harkema et al., 2009): a *trigger* ("no", "without", "years ago", "what if")
opens a scope that runs to the end of its clause.

- **negated**: "no", "not", "without", "never", "denies", "free of"... up to the end
  of the clause. Words that turn a negation into a red flag are not triggers there:
  "no feeling", "no control", "not breathing", "not waking up", "not able to",
  "no point going on", "not want to live"...
- **past**: a clause with "years ago", "last year", "back in March", "used to",
  "history of"... is left out whole. "Since", "yesterday", "two days ago" are recent
  and stay.
- **hypothetical**: "if", "what if", "in case", "signs of", "risk of", "could an
  epidural...", "how would I know"... up to the end of the clause.

Clauses end at punctuation and at "but", "however", "though", "now", "except",
"still" and "and now". The result is lowercase text without punctuation, ready for
the n-grams.
"""

from __future__ import annotations

import re
from typing import List

from bot.safety.red_flags import normalise

_MONTHS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
)
_CLAUSE_WORDS = r"but|however|though|although|except|still|now|and now|yet|whereas|until"
_CLAUSE_END = re.compile(rf"[.,;:!?\n()]+|\s(?:{_CLAUSE_WORDS})\s", re.IGNORECASE)

# A negation followed by one of these is itself the red flag, not a denial of one.
_NOT_A_DENIAL = (
    r"(?:feeling|sensation|control|strength|movement|pulse|response|reaction to anything|way out|point|reason"
    r"|hope|longer|idea|one would|one will|end|relief at all|urine|pee)"
)
_NOT_A_NEGATION_AFTER_NOT = (
    r"(?:breathing|breathe|waking|wake|woken|awake|responding|responsive|moving|move|able|making sense"
    r"|talking|speaking|eating or drinking|stopping|stop|going|gonna|go on|living|live|be here|be around|here"
    r"|worth|want|wanting|sure|feeling (?:my|his|her)|feel (?:my|his|her)|holding|hold|getting up|get up"
    r"|standing|stand|walking|walk|seeing|see|peeing|pee|urinating|urinated|passed (?:any )?(?:urine|water)|right|normal|ok|okay|well|good|himself"
    r"|herself|myself|coming back|come back|came back|going away|gone away|improving|getting better|letting up|easing"
    r"|been able|been breathing|woken|been awake|stopped|eaten|peed|been to the (?:bathroom|toilet)|made sense)"
)
_NEGATION = re.compile(
    rf"\b(?:no(?! {_NOT_A_DENIAL}\b)|not(?! {_NOT_A_NEGATION_AFTER_NOT}\b)|never(?! (?:wake|woke|want|be|again|see)\b)"
    r"|without|denies|denied|nor|neither|free of|negative for|none of|ruled out"
    r"|(?:do|does|did) ?n[o']?t (?:have|get|notice|feel any)|haven ?'?t had|hasn ?'?t had"
    rf"|(?:is|are|was|were|has|have) ?n'?t(?! {_NOT_A_NEGATION_AFTER_NOT}\b))\b"
)
_PAST = re.compile(
    r"\b(?:(?:\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|few|several|many) (?:years?|yrs?)"
    r" (?:ago|back|before)|(?:years?|months?|a while|long time|ages) ago|last (?:year|month|christmas|summer|winter|spring|fall"
    r"|autumn|time)|back in|in (?:19|20)\d\d|years? (?:back|before)|as a (?:kid|child|teen\w*|boy|girl)"
    r"|when i was (?:young|younger|a kid|little|pregnant|in (?:the|hospital))|history of|used to|in the past|previously|once before"
    rf"|before my (?:first|last) (?:one|procedure|injection|shot|surgery)|in {_MONTHS}\b(?! \d)"
    r"|the (?:first|other) time i had|with my (?:first|old|previous)|turned out (?:to be|it was))\b"
)
_HYPOTHETICAL = re.compile(
    r"\b(?:if|what if|in case|incase|signs? of|symptoms? of|risks? of|chances? of|possibility of"
    r"|what (?:are|is) the (?:\w+ )?(?:signs?|symptoms?|risks?|warning signs?)|warning signs?|what counts as"
    r"|how (?:would|do|will|can) (?:i|we|you) (?:know|tell)|is it possible|is there a (?:risk|chance)"
    r"|could (?:an?|the|it|this|that|these|those|they|epidurals?|ablations?|rfa|injections?|shots?|blocks?|pumps?"
    r"|stimulators?|steroids?|ketamine|lidocaine)|can (?:an?|the|epidurals?|ablations?|rfa|injections?"
    r"|shots?|blocks?|pumps?|stimulators?|steroids?|ketamine|lidocaine)\b"
    r"|what happens (?:if|when)|what (?:should|do) (?:i|we) (?:do|watch for|look out for)"
    r"|should i (?:worry|be worried|watch|look out)|do i need to worry|(?:is|are) (?:it|they|that|this) common"
    r"|how (?:common|often|likely|rare)|what would|would (?:i|it|that|he|she)|counts? as|difference between"
    r"|(?:read|reading|heard|hearing|learn|learning|worried|worrying|nervous|scared|asking) about|in general"
    r"|signs? (?:that|the|my|his|her)|is it (?:ok|okay|bad|safe|alright|fine) (?:to|if)|do people|does anyone"
    r"|(?:is|would|will) (?:it|this|that) (?:be |count as )?(?:an emergency|urgent|serious|dangerous)|just wondering|for the future|in the future|(?:want|wanted|wanting) to be prepared|before (?:my|the) (?:surgery|procedure|trial|injection|implant))\b"
)


def clauses(text: str) -> List[str]:
    """The clauses of a message, lowercased, with straight apostrophes."""
    text = (text or "").lower().replace("\u2019", "'").replace("\u2018", "'")
    return [c for c in _CLAUSE_END.split(text) if c and c.strip()]


_SENTENCE_END = re.compile(r"[.!?\n]+")
# Figures of speech that use alarming words: never a red flag.
_IDIOM = re.compile(
    r"\b(?:(?:be|is|was|will be|going to be|gonna be) the death of (?:me|us|him|her)|(?:is|are|it's|its) killing me"
    r"|killing me (?:softly|slowly)|dying to|dead (?:tired|on my feet|beat)|(?:bored|scared|sick|worried|tired) to death"
    r"|to die for|(?:i )?could kill for|(?:nearly|almost) died laughing|laughed so hard|drop dead gorgeous"
    r"|(?:bleeding|bled) (?:me )?(?:dry|money)|my (?:bank account|wallet) is bleeding|overdosed on (?:netflix|tv|chocolate|coffee|sugar)"
    r"|heart attack (?:of a|when i saw the) bill|gave me a heart attack|alarm clock|smoke alarm|car alarm|fire alarm"
    r"|(?:going to|gonna|could|will|i'?ll) kill (?:my|him|her|them|the)\b(?! ?self)|giving up on (?!life|living|myself|everything)\w+"
    r"|(?:insurance|pharmacy|hold music|paperwork|traffic|bill) (?:is|are) (?:killing|going to kill) me)\b"
)


# A sign that has passed, or that the care team said to expect: the clause it closes
# and those before it in the sentence are not happening now.
_RESOLVED = re.compile(
    r"\b(?:(?:but |and )?now (?:i ?'?m|im|he ?'?s|hes|she ?'?s|shes|it ?'?s|its|they ?'?re|i am|he is|she is|it is)"
    r" (?:fine|ok|okay|walking|normal|back to normal|better|gone|all good)"
    r"|(?:the )?(?:nurse|doctor|dr|team|sheet|leaflet|video|they) (?:\w+ ){0,2}(?:said|told us|told me|warned|mentioned)"
    r" (?:\w+ ){0,6}(?:would|might|could|normal|expected|happen|numbing|anaesthetic|anesthetic|wear off)"
    r"|which (?:the )?(?:nurse|doctor|they) (?:warned|told) (?:us|me) about|as expected|went away (?:after|by)"
    r"|(?:has|have|had) (?:gone|worn) (?:away|off)|wore off|passed after|(?:is|are|was) gone (?:now|by)|back to (?:my )?(?:old )?baseline"
    r"|(?:says|said) (?:that ?'?s|thats|it ?'?s|its|this is|it was) (?:normal|fine|expected|grief|ok|okay|nothing))"
)
# Signs of a stroke are an emergency even when they have gone (a "mini-stroke", TIA).
_PASSING_STROKE = re.compile(
    r"\b(?:droop\w*|slurr\w*|lopsided|(?:face|mouth|smile) (?:went|was|looked|looks) (?:\w+ )?(?:crooked|funny|wonky|uneven)"
    r"|(?:speech|talking|words) (?:\w+ )?(?:funny|strange|weird|jumbled|garbled)|couldn ?'?t (?:talk|speak|see|lift)"
    r"|lost (?:the )?(?:vision|sight)|went blind|blind in|one side of (?:his|her|my|the) (?:face|body))\b"
)
# "Since the numbing wore off" tells when a sign began, not that it has passed.
_SINCE_IT_WORE_OFF = re.compile(
    r"\b(?:since|when|after|once|now that|as soon as) (?:\w+ ){0,3}(?:wore|wears|worn|wearing|went|has gone|had gone) (?:off|away)\b"
)
# A joke is not a report ("can't feel my legs after that hike lol").
_JOKE = re.compile(r"\b(?:lol|lmao|haha\w*|jk|just kidding|kidding)\b")


# "Is it bad if my leg went numb after the shot?" asks about something that has
# happened: the asking is left out, not the report ("is it bad if I shower?" stays a what-if).
_ASKED_OF_A_REPORT = re.compile(
    r"^(?:.* )?(?:is|would) (?:it|this|that) (?:\w+ ){0,2}(?:if|that|when) (?=(?:my|his|her|the|our|i|he|she|we|it|they|i ?'?ve|we ?'?ve|he ?'?s|she ?'?s)"
    r" (?:\w+ ){0,2}(?:went|was|were|started|has been|have been|had|woke|got|still|keeps|kept|hasn ?'?t|haven ?'?t"
    r"|isn ?'?t|won ?'?t stop|can ?'?t stop|'?ve been|'?s been)\b)"
)


# A past event told with its return ("I overdosed in 2019 and lately I feel the same way again"):
# for the crisis reading the clause is happening now.
_BACK_AGAIN = re.compile(
    r"\b(?:again|lately|these days|this (?:week|month)|right now|same (?:thoughts|way|feelings?)|back to (?:that|those|the same)"
    r"|(?:are|is|have|has) (?:\w+ )?(?:come|coming|came) back|returning|(?:starting|started) (?:to|again))\b"
)


def _current_clause(clause: str, framing: bool = True) -> str:
    clean = _ASKED_OF_A_REPORT.sub("", _IDIOM.sub(" ", normalise(clause)).strip())
    if not clean or (_PAST.search(clean) and (framing or not _BACK_AGAIN.search(clean))) or (framing and _JOKE.search(clean)):
        return ""
    cut = len(clean)
    for pattern in (_NEGATION, _HYPOTHETICAL) if framing else ():
        match = pattern.search(clean)
        if match:
            cut = min(cut, match.start())
    return clean[:cut].strip()


def current_sentences(text: str, framing: bool = True) -> List[str]:
    """Each sentence of the message with its negated, past and hypothetical parts removed.

    With ``framing=False`` hypothetical and negated parts are kept: how a person in
    crisis speaks is often framed as a "what if" or a negation ("nobody would notice
    if I was gone", "if the pump fails I'm done", "not planning on being around"),
    and a past attempt told with its return ("lately I feel that way again") is
    kept too; that is how the crisis category is read.
    """
    found = []
    for sentence in _SENTENCE_END.split(text or ""):
        kept: List[str] = []
        for clause in clauses(sentence):
            plain = normalise(clause)
            if _RESOLVED.search(plain) and not _SINCE_IT_WORE_OFF.search(plain):
                # Stroke signs that pass still need the emergency number (a warning stroke).
                kept = [k for k in kept if _PASSING_STROKE.search(k)]
                continue
            part = _current_clause(clause, framing)
            if part:
                kept.append(part)
        if kept:
            found.append(" ".join(kept))
    return found


def current(text: str, framing: bool = True) -> str:
    """The normalised message without idioms and its negated, past and (``framing``) hypothetical parts."""
    return " ".join(current_sentences(text, framing))
