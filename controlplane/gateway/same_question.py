"""Whether two prompts that read alike ask the same question: the check a semantic cache makes
before it answers one with the other's answer.

Sentence embeddings put "convert Celsius to Fahrenheit" and "convert Fahrenheit to Celsius" above
0.99 cosine, so similarity alone would answer the wrong question (LiteLLM's semantic cache is
known for it). `same_question` compares what embeddings blur: numbers and units, negations,
opposites, names, and the order of words around "to", "from", "than" and the like.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

BLOCK = 4  # the longest group of words `same_question` lets trade places with its neighbour


def normalize(prompt: str) -> str:
    """The prompt with runs of white space made one space: what an exact match compares."""
    return " ".join(prompt.split())


TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+(?:[.,]\d+)*")
SENTENCE_BREAK = re.compile(r"[.!?:;\n]")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NEGATIONS = frozenset(
    _words(
        """not no never without none nothing nobody nowhere neither nor cannot unable dont
        doesnt didnt cant wont isnt arent wasnt werent shouldnt wouldnt couldnt havent hasnt"""
    )
)
STOPWORDS = frozenset(
    _words(
        """a an the is are was were be been being am do does did doing have has having had i me
        my mine myself you your yours we us our they them their he him his she her it its this
        that these those of in on at for with by about as and or but if so then there here what
        which who whom whose how why when where can could would should will shall may might must
        please tell give show explain some any all each every other such just also very really
        much many more most quite way ways get got make lets let s d ll m re ve"""
    )
)  # not "to", "from", "than", "vs": where they stand is what the prompt means
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        _words(
            """zero one two three four five six seven eight nine ten eleven twelve thirteen
            fourteen fifteen sixteen seventeen eighteen nineteen twenty"""
        )
    )
    if word != "one"  # more often a pronoun ("which one")
} | {
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
    "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000",
    "billion": "1000000000", "dozen": "12", "half": "0.5", "first": "1", "second": "2",
    "third": "3", "fourth": "4", "fifth": "5", "sixth": "6", "seventh": "7", "eighth": "8",
    "ninth": "9", "tenth": "10",
}  # fmt: skip
UNITS = {
    spelling: unit
    for unit, spellings in {
        "celsius": "celsius centigrade °c",
        "fahrenheit": "fahrenheit °f",
        "kelvin": "kelvin kelvins",
        "km": "km kms kilometer kilometers kilometre kilometres",
        "meter": "meter meters metre metres",
        "cm": "cm centimeter centimeters centimetre centimetres",
        "mm": "mm millimeter millimeters millimetre millimetres",
        "mile": "mile miles",
        "foot": "foot feet ft",
        "inch": "inch inches",
        "yard": "yard yards",
        "kg": "kg kgs kilo kilos kilogram kilograms",
        "gram": "gram grams",
        "pound": "lb lbs pound pounds £",
        "ounce": "oz ounce ounces",
        "ton": "ton tons tonne tonnes",
        "liter": "liter liters litre litres",
        "ml": "ml milliliter milliliters millilitre millilitres",
        "gallon": "gallon gallons",
        "cup": "cup cups",
        "teaspoon": "teaspoon teaspoons tsp",
        "tablespoon": "tablespoon tablespoons tbsp",
        "pint": "pint pints",
        "quart": "quart quarts",
        "second": "second seconds sec secs",
        "minute": "minute minutes min mins",
        "hour": "hour hours hr hrs",
        "day": "day days",
        "week": "week weeks",
        "month": "month months",
        "year": "year years",
        "dollar": "dollar dollars usd $",
        "euro": "euro euros eur €",
        "yen": "yen jpy ¥",
        "byte": "byte bytes",
        "kb": "kb kilobyte kilobytes",
        "mb": "mb megabyte megabytes",
        "gb": "gb gigabyte gigabytes",
        "tb": "tb terabyte terabytes",
        "bit": "bit bits",
        "mph": "mph",
        "kmh": "kmh kph",
    }.items()
    for spelling in _words(spellings)
}
DIRECTIONS = frozenset(_words("to from into onto than vs versus before after"))
PREFIXES = _words("dis un in im il ir non de")  # a word that negates the word it prefixes


def _opposites(pairs: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for pair in _words(pairs):
        first, second = pair.split(":")
        found.setdefault(first, set()).add(second)
        found.setdefault(second, set()).add(first)
    return {word: frozenset(others) for word, others in found.items()}


OPPOSITES = _opposites(
    """good:bad best:worst better:worse large:small larger:smaller largest:smallest
    big:small bigger:smaller biggest:smallest tall:short taller:shorter tallest:shortest
    high:low higher:lower highest:lowest long:short longer:shorter longest:shortest
    fast:slow faster:slower fastest:slowest hot:cold warm:cold cheap:expensive easy:hard
    easiest:hardest easy:difficult early:late earliest:latest old:new oldest:newest
    older:newer old:young start:stop begin:end open:close add:remove add:delete add:drop
    insert:delete create:delete push:pull upload:download import:export encrypt:decrypt
    encode:decode increase:decrease raise:lower gain:lose win:lose buy:sell lend:borrow
    send:receive input:output left:right up:down true:false yes:no pros:cons
    strengths:weaknesses positive:negative maximum:minimum horizontal:vertical
    horizontally:vertically male:female men:women husband:wife boy:girl north:south
    east:west above:below inside:outside upper:lower uppercase:lowercase last:first
    light:dark light:heavy wet:dry safe:dangerous love:hate accept:reject allow:deny
    allow:block include:exclude sunrise:sunset morning:evening summer:winter min:max"""
)
SYMBOL = re.compile(r"°[cf]\b|[$€¥£]")


@dataclass(frozen=True)
class Reading:
    """What `same_question` compares in one prompt."""

    words: tuple[str, ...]  # lowercased, clitics cut ("python's" -> "python"), in order
    numbers: Counter[str]
    negations: int
    units: Counter[str]
    entities: frozenset[str]  # lowercased proper nouns and acronyms
    content: tuple[str, ...]  # words minus stopwords, in order


def read(prompt: str) -> Reading:
    words: list[str] = []
    numbers: Counter[str] = Counter()
    negations = 0
    entities: set[str] = set()
    previous_end = 0
    for match in TOKEN.finditer(prompt):
        raw = match.group().replace("’", "'")
        # A capital opening a sentence says nothing; elsewhere it marks a name, and so does a
        # capital after the first letter (AWS, iPhone, macOS) anywhere.
        opening = not words or SENTENCE_BREAK.search(prompt, previous_end, match.start())
        previous_end = match.end()
        if raw[0].isdigit():
            number = re.sub(r",(?=\d{3}\b)", "", raw)  # 1,000 is 1000
            numbers[number] += 1
            words.append(number)
            continue
        lower = raw.lower()
        if lower.endswith("n't") or lower in NEGATIONS:
            negations += 1
        word = lower.split("'")[0]
        if word in NUMBER_WORDS:
            word = NUMBER_WORDS[word]
            numbers[word] += 1
        words.append(word)
        name = raw.split("'")[0]
        if word != "i" and (
            any(c.isupper() for c in name[1:]) or (name[0].isupper() and not opening)
        ):
            entities.add(word)
    units = Counter(UNITS[w] for w in words if w in UNITS)
    units.update(UNITS[s] for s in SYMBOL.findall(prompt.lower()))
    content = tuple(w for w in words if w not in STOPWORDS and w not in NEGATIONS)
    return Reading(tuple(words), numbers, negations, units, frozenset(entities), content)


def _order(words: tuple[str, ...], anchors: set[str]) -> list[str]:
    """The anchors in the order they first appear, units by their canonical name."""
    seen: list[str] = []
    for word in words:
        item = UNITS.get(word, word)
        if item in anchors and item not in seen:
            seen.append(item)
    return seen


def _opposite(x: Reading, y: Reading) -> bool:
    """Whether a word of one has its opposite in the other: good/bad, advantages/disadvantages
    (a negating prefix)."""
    only_x, only_y = set(x.content) - set(y.content), set(y.content) - set(x.content)
    if any(OPPOSITES.get(w, frozenset()) & only_y for w in only_x):
        return True
    bases = {w for w in only_x | only_y if len(w) > 3}  # not "to" / "into"
    return any(p + w in only_y or p + w in only_x for w in bases for p in PREFIXES)


def _crossed(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether words trade sides of a direction word both have: "from boston to new york" and
    "new york to boston" ("new" after "to" in one, before it in the other, "boston" the other
    way round). One-sided moves are not enough: "how to convert a string to an int" has an
    infinitive "to" before the words "convert a string into an int" has after its own."""
    for word in DIRECTIONS.intersection(a).intersection(b):
        at_a, at_b = a.index(word), b.index(word)
        after_a = {f for w, f in itertools.pairwise(a) if w == word}
        after_b = {f for w, f in itertools.pairwise(b) if w == word}
        if after_a & set(b[:at_b]) and after_b & set(a[:at_a]):
            return True
    return False


def _swapped(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether B has A's words in another order, other than neighbouring groups of words
    trading places ("git branch" / "branch in git", "green tea's health benefits" / "health
    benefits of green tea"): not across a direction word ("Celsius to Fahrenheit"), and not
    around a word that stays ("cat chases dog" / "dog chases cat")."""
    if a == b or Counter(a) != Counter(b):
        return False
    i = 0
    while i < len(a):
        if a[i] == b[i]:
            i += 1
            continue
        end = _block_swap(a, b, i)
        if end is None:
            return True
        i = end
    return False


def _block_swap(a: tuple[str, ...], b: tuple[str, ...], i: int) -> int | None:
    """The end of two neighbouring groups at I in A that B has the other way round."""
    for j in range(i + 1, min(i + BLOCK, len(a)) + 1):
        for k in range(j + 1, min(j + BLOCK, len(a)) + 1):
            if b[i:k] == a[j:k] + a[i:j] and not DIRECTIONS.intersection(a[i:k]):
                return k
    return None


def same_question(a: str, b: str) -> bool:
    """Whether two prompts that embed close together ask the same question.

    A sentence embedding measures topic and wording more than meaning: with all-MiniLM-L6-v2
    "How do I convert Celsius to Fahrenheit?" and "...Fahrenheit to Celsius?" score 0.995,
    "Is it safe to eat raw eggs?" and "Is it not safe...?" 0.993, "Give me 5 tips..." and
    "Give me 10 tips..." 0.966: higher than most paraphrases. A cache that trusts the score
    alone answers different questions with one answer (LiteLLM's semantic cache is known for
    it). A wrong answer costs far more than a miss, so this rejects a match, whatever its
    score, when the prompts differ in what usually changes the answer:

    - their numbers (as a multiset; "five" counts as 5, "1,000" as 1000),
    - the number of negations (not, no, never, without, -n't, ...), or a word in one and its
      opposite in the other (good/bad, start/stop, advantages/disadvantages),
    - their units (km vs miles, Celsius vs Fahrenheit),
    - a proper noun or acronym (capitalized mid-sentence, or mixed case) found in one only,
    - the order of the names, numbers and units both have ("Paris to London" vs "London to
      Paris", "15% of 80" vs "80% of 15"), and of words around a direction word (to, from,
      than...) both have ("from boston to new york" vs "new york to boston"),
    - the order of the same content words, beyond neighbouring groups trading places ("Python
      faster than Java" vs "Java faster than Python", but not "Python list" vs "list in
      Python").

    It only ever turns hits into misses: a paraphrase that trips it costs one upstream call.
    Everything else (boiling/freezing, Ubuntu/Windows typed in lower case) is left to the
    threshold.
    """
    if normalize(a) == normalize(b):
        return True
    x, y = read(a), read(b)
    if x.numbers != y.numbers or x.units != y.units:
        return False
    if x.negations != y.negations or _opposite(x, y):
        return False
    if any(e not in y.words for e in x.entities) or any(e not in x.words for e in y.entities):
        return False
    anchors = set(x.entities & y.entities) | set(x.numbers) | set(x.units)
    if _order(x.words, anchors) != _order(y.words, anchors):
        return False
    if _crossed(x.content, y.content):
        return False
    return not _swapped(x.content, y.content)
