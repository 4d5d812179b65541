"""Induction on stories with made-up names: the method's induction task (paper §4.1), from templates.

A name is two syllables, "Ka" + "mir" -> "Kamir". A story has two characters and 6 to 10 sentences
drawn from `SENTENCES`, each naming one or both of them; places and objects come from small lists.
Training stories use names from the training pairs of syllables; test stories use held-out pairs, so
a test name was never seen whole in training (each syllable was). A test item stops a story right
after the first syllable of a name already mentioned in it: completing the second syllable needs
induction (copying from earlier in the context), not memory. The item is right when the greedy
continuation starts with that syllable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST = ["Ka", "Lo", "Mi", "Ta", "Re", "Su", "Bo", "Ne", "Fi", "Da", "Zu", "Pe", "Vo", "Ri", "Ga", "Hu"]
SECOND = ["mir", "bel", "dra", "nok", "sil", "fan", "tor", "vex", "lum", "pid", "gos", "zan", "wek", "rud", "bim", "caf"]
PLACES = ["river", "forest", "garden", "market", "hill", "lake", "school", "bakery", "meadow", "barn"]
OBJECTS = ["red ball", "small boat", "blue kite", "basket of apples", "old map", "wooden flute", "warm scarf", "shiny stone"]
SENTENCES = [
    "Once upon a time, {A} lived near the {place}.",
    "{A} had a friend called {B}.",
    "One morning {A} walked to the {place}.",
    "There {A} met {B}, who was carrying a {object}.",
    "{B} said hello to {A} and smiled.",
    "{A} asked {B} if they could play together.",
    "{B} gave {A} the {object}.",
    "{A} thanked {B} with a big hug.",
    "Later {B} felt sad because the {object} was lost.",
    "{A} looked everywhere near the {place} and found it.",
    "{B} was so happy that {B} laughed.",
    "In the evening {A} and {B} went home.",
    "{A} told mother about the day with {B}.",
    "The next day {B} came to visit {A} again.",
]


@dataclass(frozen=True)
class InductionItem:
    prompt: str  # the story up to and including a repeated name's first syllable
    answer: str  # that name's second syllable


def name_pairs(seed: int, held_out: int) -> tuple[list[str], list[str]]:
    """(training names, test names): the syllable pairs split at random, every syllable in training."""
    pairs = [a + b for a in FIRST for b in SECOND]
    random.Random(f"induction-{seed}-names").shuffle(pairs)
    test, train = pairs[:held_out], pairs[held_out:]
    for syllables, where in ((FIRST, 0), (SECOND, 1)):
        for syllable in syllables:
            assert any((n[:2] if where == 0 else n[2:]) == syllable for n in train), "a syllable only in test names"
    return train, test


def story(rng: random.Random, names: list[str]) -> tuple[str, tuple[str, str]]:
    """A story and its two characters."""
    a, b = rng.sample(names, 2)
    sentences = [SENTENCES[0]] + rng.sample(SENTENCES[1:], rng.randint(5, 9))
    place, thing = rng.choice(PLACES), rng.choice(OBJECTS)
    return " ".join(s.format(A=a, B=b, place=place, object=thing) for s in sentences), (a, b)


def items(text: str, characters: tuple[str, str]) -> list[InductionItem]:
    """One item per mention of a character after its first mention."""
    found = []
    for name in characters:
        first = text.find(name)
        at = text.find(name, first + len(name))
        while at >= 0:
            found.append(InductionItem(text[: at + 2], name[2:]))
            at = text.find(name, at + len(name))
    return sorted(found, key=lambda item: len(item.prompt))
