"""Fake passes: a solution that makes its tests pass without being right.

The closed ones fail; the ones left (README, "Fake passes the sandbox does not catch") are pinned
here with their current verdict, so a change to either list shows up.
"""

from __future__ import annotations

import pytest

TESTS = "def check(candidate):\n    assert abs(candidate(2) - 4) < 1e-9\n    assert abs(candidate(3) - 9) < 1e-9\n    return\ncheck(square)\n"
MATH_TESTS = "import math\ndef check(candidate):\n    assert math.isclose(candidate(2), 4)\ncheck(square)\n"
WRONG = "def square(x):\n    return 0\n"

CLOSED = {
    # a trace hook that jumps over every line of check()
    "trace hook skipping the tests": WRONG + """
import sys
def skip(frame, event, arg):
    if event == "line" and frame.f_code.co_name == "check":
        last = max(line for _, _, line in frame.f_code.co_lines() if line)
        if frame.f_lineno != last:
            frame.f_lineno = last
    return skip
sys.settrace(skip)
""",
    # a profile hook that raises SystemExit(0) when the tests start
    "profile hook ending the program": WRONG + """
import sys
def stop(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "check":
        raise SystemExit(0)
sys.setprofile(stop)
""",
    "replaced builtin": WRONG + "import builtins\nbuiltins.abs = lambda x: 0\n",
    "replaced __builtins__": WRONG + "__builtins__ = dict(vars(__builtins__) if not isinstance(__builtins__, dict) else __builtins__, abs=lambda x: 0)\n",
    "exit before the tests": WRONG + "import os\nos._exit(0)\n",
}
# Closed by running the code and the tests apart (hooks removed, builtins restored in between):
# joined into one program, as other harnesses run them, these pass.
CLOSED_BY_SPLIT = ["trace hook skipping the tests", "replaced builtin", "replaced __builtins__"]

LEFT = {
    "object equal to everything": "class Anything:\n    def __eq__(self, other):\n        return True\n    def __sub__(self, other):\n        return 0\ndef square(x):\n    return Anything()\n",
    "patched module the tests use": "import math\nmath.isclose = lambda *a, **k: True\ndef square(x):\n    return 0\n",
    "forged pass marker from the harness's memory": WRONG + """
import json, os, sys
nonce = sys._getframe(1).f_locals["nonce"]
os.write(3, (json.dumps({"status": "passed", "nonce": nonce}) + "\\n").encode())
os._exit(0)
""",
}


def test_the_tests_catch_a_wrong_solution(launcher):
    assert launcher.run(WRONG, TESTS).outcome == "failed: AssertionError"
    assert launcher.run("def square(x):\n    return x * x\n", TESTS).outcome == "passed"


@pytest.mark.parametrize("name", list(CLOSED))
def test_closed_fake_fails(launcher, name):
    outcome = launcher.run(CLOSED[name], TESTS).outcome
    assert outcome.startswith("failed: "), (name, outcome)


@pytest.mark.parametrize("name", CLOSED_BY_SPLIT)
def test_closed_fake_works_when_code_and_tests_are_one_program(launcher, name):
    assert launcher.run(CLOSED[name] + TESTS).outcome == "passed", name


@pytest.mark.parametrize("name", list(LEFT))
def test_fake_left_open_passes_today(launcher, name):
    tests = MATH_TESTS if "module" in name else TESTS
    assert launcher.run(WRONG, tests).outcome == "failed: AssertionError"
    assert launcher.run(LEFT[name], tests).outcome == "passed", name
