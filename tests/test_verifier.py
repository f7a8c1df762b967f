"""Countdown checker: table-driven, malformed input never raises."""

from __future__ import annotations

import pytest

from workflow.tasks.countdown import check, difficulty, enumerate_traces, prompt_text, vocabulary

NUMS, TARGET = (4, 5, 12), 13

CASES = [
    ("5 - 4 = 1 , 12 + 1 = 13", "stop", True, "ok"),
    ("5 - 4 = 1 , 1 + 12 = 13", "stop", True, "ok"),
    ("12 + 5 = 17 , 17 - 4 = 13", "stop", True, "ok"),
    ("  12 + 5 = 17 ,  17 - 4 = 13 ", "stop", True, "ok"),  # whitespace is not meaningful
    ("12 + 5 = 17 , 17 - 4 = 13", "length", False, "truncated"),
    ("", "stop", False, "empty"),
    ("   ", "stop", False, "empty"),
    (None, "stop", False, "empty"),
    (13, "stop", False, "empty"),
    ("13", "stop", False, "format"),
    ("12 + 5 = 17 , 17 - 4 = 13 , 1 + 1 = 2", "stop", False, "format"),
    ("12 / 4 = 3 , 3 + 5 = 8", "stop", False, "format"),
    ("12 + 5 = 17 ; 17 - 4 = 13", "stop", False, "format"),
    ("12 + 5 = 18 , 18 - 5 = 13", "stop", False, "step1"),  # false equation
    ("12 + 12 = 24 , 24 - 11 = 13", "stop", False, "numbers"),  # reuses a number
    ("12 + 5 = 17 , 17 - 5 = 12", "stop", False, "numbers"),  # second step ignores the third number
    ("12 + 5 = 17 , 17 - 4 = 14", "stop", False, "step2"),  # writes a wrong result
    ("12 + 5 = 17 , 17 + 4 = 21", "stop", False, "target"),  # correct arithmetic, wrong target
    ("12 - 5 = 7 , 7 + 4 = 11", "stop", False, "target"),
    ("１２ + 5 = 17 , 17 - 4 = 13", "stop", False, "format"),  # unicode digits
    ("012 + 5 = 17 , 17 - 4 = 13", "stop", False, "format"),  # leading zero
    ("12 + 5 = 17 , 17 - 4 = 999", "stop", False, "format"),  # out of the value range
    ("5 - 12 = -7 , -7 + 20 = 13", "stop", False, "format"),  # negative values are not tokens
    ("12 + 5 = 17 , 17 - 4 = 13 <eos>", "stop", False, "format"),
    ("\x00\ufffd🙂", "stop", False, "format"),
]


@pytest.mark.parametrize("completion, finish, correct, reason", CASES)
def test_check(completion, finish, correct, reason):
    v = check(NUMS, TARGET, completion, finish)
    assert (v.correct, v.reason) == (correct, reason)


def test_every_enumerated_solution_passes_and_every_other_trace_fails():
    traces = enumerate_traces(NUMS, 255)
    assert len(traces[TARGET]) >= 2
    for value, ts in traces.items():
        for t in ts:
            assert check(NUMS, TARGET, t).correct == (value == TARGET), t


def test_duplicate_numbers():
    assert check((3, 3, 7), 13, "3 + 3 = 6 , 6 + 7 = 13").correct
    assert not check((3, 7, 9), 13, "3 + 3 = 6 , 6 + 7 = 13").correct


def test_prompt_and_vocabulary_cover_every_token():
    vocab = set(vocabulary(255))
    assert set(prompt_text(NUMS, TARGET).split()) <= vocab
    for ts in enumerate_traces(NUMS, 255).values():
        for t in ts:
            assert set(t.split()) <= vocab


def test_difficulty_bins():
    assert [difficulty(k, (2, 4, 8)) for k in (2, 3, 4, 7, 8, 40)] == [
        "hard",
        "hard",
        "medium",
        "medium",
        "easy",
        "easy",
    ]


def test_verify_dispatches_by_problem_kind_and_never_raises():
    """One shard mixing problem kinds: each row goes to its kind's checker, unknown ones are scored wrong."""
    from workflow.config import from_dict
    from workflow.verify import verify_rows

    problems = {
        "c1": {"id": "c1", "numbers": [1, 2, 3], "target": 6},  # the toy task: no kind
        "m1": {"id": "m1", "kind": "math", "answer": "\\frac{1}{2}"},
        "x1": {"id": "x1", "kind": "chess"},
    }
    rows = [
        {"problem_id": "c1", "sample_idx": 0, "completion": "1 + 2 = 3 , 3 + 3 = 6", "finish_reason": "stop"},
        {"problem_id": "m1", "sample_idx": 0, "completion": "so \\boxed{0.5}", "finish_reason": "stop"},
        {
            "problem_id": "m1",
            "sample_idx": 1,
            "completion": "\\boxed{0.5} then \\boxed{2}",
            "finish_reason": "stop",
        },
        {"problem_id": "m1", "sample_idx": 2, "completion": None, "finish_reason": "stop"},
        {"problem_id": "x1", "sample_idx": 0, "completion": "e4", "finish_reason": "stop"},
        {"problem_id": "zz", "sample_idx": 0, "completion": "?", "finish_reason": "stop"},
    ]
    v = verify_rows(rows, problems, from_dict({"verification": {"workers": 1}}))
    assert [x.correct for x in v] == [True, True, False, False, False, False]
    assert [x.reason for x in v][3:] == ["empty", "unknown_kind:chess", "unknown_problem"]
    assert v[1].extracted == "0.5" and v[2].extracted == "2"


def test_verify_refuses_blocks_that_do_not_hold_samples_0_to_n():
    """A block sampled under another n (stale) or cut short would make pass@k use the wrong n: refused by name."""
    from workflow.verify import check_complete

    rows = [{"problem_id": p, "sample_idx": i} for p in ("a", "b") for i in range(4)]
    check_complete(rows, 4, ["from0.jsonl"])
    with pytest.raises(ValueError, match=r"problem a: .*from0.jsonl.*missing \[4, 5\]"):
        check_complete(rows, 6, ["from0.jsonl"])
    with pytest.raises(ValueError, match=r"problem b: .*repeated \[3\]"):
        check_complete([*rows, {"problem_id": "b", "sample_idx": 3}], 4, ["from0.jsonl", "from2.jsonl"])
