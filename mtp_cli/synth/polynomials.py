"""Polynomial arithmetic in F_7[X]/(X^5): the method's algorithmic-reasoning task (paper §4.2).

A polynomial is its 5 coefficients (degree 0 first), each in 0..6. An expression applies m operations
to random polynomials; each operation is drawn uniformly from negation, addition, multiplication and
composition, and each new operand is a uniformly random polynomial. The model reads the expression and
writes its value in normal form.

Text format (what `mtp tokenize` reads and the model sees):

    polynomial   terms from the highest degree down, joined by "+": "3x^4+x^2+5"; a coefficient 1 is
                 left out before x ("x^2"), x^1 is "x", the zero polynomial is "0"
    negation     "-(E)"
    addition     "(A + B)"   multiplication "(A * B)"   composition "(A @ B)" = A(B(x)) mod X^5
                 (spaces around an operation tell it from the "+" inside a polynomial)
    problem      "E=" then the value: "(3x+1 * -(x^2))=4x^3+6x^2"

Operations and their order are seeded: the same seed writes the same corpus on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

P = 7  # the field's size
DEGREE = 5  # coefficients kept: everything is taken modulo X^5
OPERATIONS = ("neg", "add", "mul", "comp")
Poly = tuple[int, ...]


def add(a: Poly, b: Poly) -> Poly:
    return tuple((x + y) % P for x, y in zip(a, b))


def negate(a: Poly) -> Poly:
    return tuple((-x) % P for x in a)


def multiply(a: Poly, b: Poly) -> Poly:
    out = [0] * DEGREE
    for i, x in enumerate(a):
        if x:
            for j in range(DEGREE - i):
                out[i + j] = (out[i + j] + x * b[j]) % P
    return tuple(out)


def compose(a: Poly, b: Poly) -> Poly:
    """a(b(x)) mod X^5, by Horner's rule."""
    out: Poly = (0,) * DEGREE
    for coefficient in reversed(a):
        out = add(multiply(out, b), (coefficient,) + (0,) * (DEGREE - 1))
    return out


def poly_text(a: Poly) -> str:
    terms = []
    for power in range(DEGREE - 1, -1, -1):
        c = a[power]
        if not c:
            continue
        if power == 0:
            terms.append(str(c))
        else:
            x = "x" if power == 1 else f"x^{power}"
            terms.append(x if c == 1 else f"{c}{x}")
    return "+".join(terms) or "0"


@dataclass(frozen=True)
class Expression:
    text: str  # fully parenthesized, as the model reads it
    value: Poly
    operations: int


def random_poly(rng: random.Random) -> Poly:
    return tuple(rng.randrange(P) for _ in range(DEGREE))


def random_expression(rng: random.Random, operations: int) -> Expression:
    """`operations` operations applied in turn to a growing expression, each new operand random and on
    a random side."""
    value = random_poly(rng)
    text = poly_text(value)
    for _ in range(operations):
        op = rng.choice(OPERATIONS)
        if op == "neg":
            value, text = negate(value), f"-({text})"
            continue
        operand = random_poly(rng)
        left, right = ((value, text), (operand, poly_text(operand))) if rng.random() < 0.5 else ((operand, poly_text(operand)), (value, text))
        symbol, combine = {"add": ("+", add), "mul": ("*", multiply), "comp": ("@", compose)}[op]
        value, text = combine(left[0], right[0]), f"({left[1]} {symbol} {right[1]})"
    return Expression(text, value, operations)


def problem_text(expression: Expression) -> tuple[str, str]:
    """(prompt, answer): the model continues the prompt with the answer."""
    return f"{expression.text}=", poly_text(expression.value)
