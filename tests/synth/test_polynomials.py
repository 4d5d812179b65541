"""The polynomial task: its algebra checked by an independent computation, its text, its determinism,
and no test problem in the training corpus."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from mtp_cli.cli import main
from mtp_cli.synth import PolynomialSettings, write_polynomials
from mtp_cli.synth.polynomials import DEGREE, P, poly_text, random_expression


def parse_poly(text: str) -> np.ndarray:
    """Coefficients of a polynomial written by poly_text, read back by a regular expression."""
    coefficients = np.zeros(DEGREE, dtype=np.int64)
    if text == "0":
        return coefficients
    for term in text.split("+"):
        match = re.fullmatch(r"(\d*)(x(?:\^(\d))?)?", term)
        coefficient = int(match.group(1)) if match.group(1) else 1
        power = 0 if not match.group(2) else int(match.group(3) or 1)
        coefficients[power] = coefficient
    return coefficients


def truncated(a: np.ndarray) -> np.ndarray:
    return np.pad(a, (0, max(0, DEGREE - len(a))))[:DEGREE] % P


def evaluate(text: str) -> np.ndarray:
    """The value of an expression, by a recursive-descent parser and numpy's convolution: a second,
    independent implementation of the algebra."""

    def expression(i: int) -> tuple[np.ndarray, int]:
        if text.startswith("-(", i):
            value, i = expression(i + 2)
            assert text[i] == ")"
            return (-value) % P, i + 1
        if text[i] == "(":
            left, i = expression(i + 1)
            assert text[i] == " " and text[i + 2] == " "
            op = text[i + 1]
            right, i = expression(i + 3)
            assert text[i] == ")"
            return combine(left, op, right), i + 1
        end = i
        while end < len(text) and text[end] not in " )":
            end += 1
        return parse_poly(text[i:end]), end

    def combine(a: np.ndarray, op: str, b: np.ndarray) -> np.ndarray:
        if op == "+":
            return (a + b) % P
        if op == "*":
            return truncated(np.convolve(a, b))
        assert op == "@"
        result = np.zeros(DEGREE, dtype=np.int64)  # a(b(x)) = sum of a_k b^k
        power = np.eye(1, DEGREE, 0, dtype=np.int64)[0]
        for coefficient in a:
            result = (result + coefficient * power) % P
            power = truncated(np.convolve(power, b))
        return result

    value, end = expression(0)
    assert end == len(text)
    return value


def test_literals_round_trip():
    rng = random.Random(0)
    for _ in range(200):
        coefficients = tuple(rng.randrange(P) for _ in range(DEGREE))
        assert tuple(parse_poly(poly_text(coefficients))) == coefficients
    assert poly_text((0, 0, 0, 0, 0)) == "0" and poly_text((5, 1, 0, 0, 3)) == "3x^4+x+5"


@pytest.mark.parametrize("operations", [1, 2, 5, 10])
def test_values_agree_with_an_independent_computation(operations):
    rng = random.Random(operations)
    for _ in range(100):
        expression = random_expression(rng, operations)
        assert tuple(evaluate(expression.text)) == expression.value, expression.text
        assert expression.text.count("(") == expression.text.count(")")


def test_the_corpus_is_seeded_and_holds_no_test_problem(tmp_path):
    settings = dict(seed=3, train_problems=3000, test_problems=20, train_max_operations=2, test_max_operations=4)
    first = write_polynomials(PolynomialSettings(out=tmp_path / "a", **settings))
    second = write_polynomials(PolynomialSettings(out=tmp_path / "b", **settings))
    assert first["files"] == second["files"]  # the same seed, the same bytes
    third = write_polynomials(PolynomialSettings(out=tmp_path / "c", **{**settings, "seed": 4}))
    assert third["files"] != first["files"]
    test = [json.loads(line) for line in (tmp_path / "a" / "test.jsonl").read_text().splitlines()]
    assert len(test) == 4 * 20 and {p["operations"] for p in test} == {1, 2, 3, 4}
    for problem in test:
        assert tuple(evaluate(problem["prompt"][:-1])) == tuple(parse_poly(problem["answer"]))
    train = {json.loads(line)["text"] for line in (tmp_path / "a" / "train.jsonl").read_text().splitlines()}
    assert len(train) > 100
    prompts = {t.split("=")[0] + "=" for t in train}
    assert not prompts & {p["prompt"] for p in test}


def test_training_skips_every_test_problem_even_when_draws_repeat(tmp_path, monkeypatch):
    import mtp_cli.synth.write as write

    def few_expressions(rng, operations):  # 40 distinct problems: training draws test ones for sure
        return random_expression(random.Random(rng.randrange(40)), operations)

    monkeypatch.setattr(write, "random_expression", few_expressions)
    manifest = write_polynomials(PolynomialSettings(out=tmp_path / "p", train_problems=300, test_problems=10, train_max_operations=1, test_max_operations=1))
    test = {json.loads(line)["prompt"] for line in (tmp_path / "p" / "test.jsonl").read_text().splitlines()}
    train = {json.loads(line)["text"].split("=")[0] + "=" for line in (tmp_path / "p" / "train.jsonl").read_text().splitlines()}
    assert manifest["train"]["skipped_as_test"] > 0 and not train & test


def test_the_cli_writes_a_folder_tokenize_reads(tmp_path, capsys):
    out = tmp_path / "poly"
    assert main(["synth", "polynomials", "--out", str(out), "--train-problems", "500", "--test-problems", "5"]) == 0
    assert "500" in capsys.readouterr().out
    assert main(["tokenize", str(out / "train.jsonl"), "--tokenizer", "bytes", "--seq-len", "128", "--out", str(tmp_path / "data")]) == 0
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["documents"] + manifest["splits"]["validation"]["documents"] == 500
    assert main(["synth", "polynomials", "--out", str(out)]) == 2  # exists: refused without --overwrite


def test_exact_match_scoring_on_hand_made_predictions(tmp_path, capsys):
    from mtp_cli.eval.exact import ExactConfig, evaluate_exact

    out = tmp_path / "poly"
    write_polynomials(PolynomialSettings(out=out, train_problems=50, test_problems=2, train_max_operations=1, test_max_operations=2))
    problems = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    # m=1: one right (with a second line after it), one wrong; m=2: one right with spaces, one missing its answer
    completions = [problems[0]["answer"] + "\n(x + 1)=", "7x", f"  {problems[2]['answer']} ", ""]  # 7x: never a value
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": p["task_id"], "completion": c}) + "\n" for p, c in zip(problems, completions)))
    summary = evaluate_exact(ExactConfig(samples, out / "test.jsonl", tmp_path / "eval"))
    assert summary["accuracy_per_difficulty"] == {"1": 0.5, "2": 0.5} and summary["accuracy"] == 0.5
    assert summary["accuracy_in_domain"] == 0.5 and summary["in_domain_up_to"] == 1
    results = [json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False, True, False]
    assert main(["eval", "exact", str(samples), "--problems", str(out / "test.jsonl"), "--out", str(tmp_path / "eval2")]) == 0
    assert "50.0%" in capsys.readouterr().out
    samples.write_text(json.dumps({"task_id": "nope", "completion": "0"}) + "\n")
    assert main(["eval", "exact", str(samples), "--problems", str(out / "test.jsonl"), "--out", str(tmp_path / "eval3")]) == 2
