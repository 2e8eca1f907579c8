"""The shipped tone lexicon: ordinary business notes give no hit, every listed insult is
found, common German insults are there, and no pattern is listed twice."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from timeline import tone
from timeline.text import fold_word

NOTES = Path(__file__).parent / "data" / "normal_notes.txt"


def notes() -> list[str]:
    lines = NOTES.read_text("utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def raw_lexicon() -> dict[str, object]:
    text = resources.files("timeline").joinpath("data/tone_lexicon.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def sample(pattern: str) -> str:
    """A text the pattern is meant to catch: wildcards filled in."""
    words = []
    for word in re.split(r"\s+", pattern):
        words.append("Nacken" if word == "*" else word.replace("*", ""))
    return "Der Kunde ist " + " ".join(words) + "."


def test_the_corpus_is_big_enough() -> None:
    found = notes()
    assert len(found) >= 60
    assert len(set(found)) == len(found)


@pytest.mark.parametrize("note", notes())
def test_ordinary_business_notes_give_no_hit(note: str) -> None:
    assert tone.check(note) == [], note


@pytest.mark.parametrize("pattern", tone.shipped_lexicon().patterns)
def test_each_listed_pattern_is_found(pattern: str) -> None:
    hits = tone.check(sample(pattern))
    assert hits, (pattern, sample(pattern))


@pytest.mark.parametrize("text", [
    "Der Kunde ist ein Arschloch.", "Der hat nen Knall.", "So ein Vollidiot!",
    "Die hat doch einen an der Waffel.", "Was für ein Blödmann.", "Totaler Hornochse.",
    "Er ist bescheuert und dämlich.", "Typischer Schmarotzer.", "Der Kunde ist ein Penner.",
    "What an asshole.", "He is a complete moron and a jackass.", "She's a nutjob.",
    # other phrasings: insults inside a compound, after an intensifier, in the genitive
    "Der Kunde ist ein Riesenidiot.", "So ein Volldepp!", "Der ist doch stockdumm.",
    "Saublöder Typ.", "Die Kundin ist strunzdumm.", "Was für ein Megaarschloch.",
    "Scheißkunde, ruft dauernd an.", "Des Depps Antrag liegt vor.", "Ein Klugscheisser.",
    "He's a complete tosser.", "She is the dumbest customer we have.", "This guy is an ass.",
])
def test_common_insults_are_found(text: str) -> None:
    assert tone.check(text), text


def test_no_pattern_is_listed_twice() -> None:
    patterns = tone.shipped_lexicon().patterns
    keys = [" ".join(fold_word(w) for w in re.split(r"[\s\-]+", p) if w) for p in patterns]
    assert len(set(keys)) == len(keys), sorted(k for k in keys if keys.count(k) > 1)


def test_the_lexicon_says_how_it_was_compiled() -> None:
    sources = raw_lexicon()["sources"]
    assert isinstance(sources, str) and "normal_notes.txt" in sources
