"""Novelty: exact n-gram matches against the base model's training corpus."""

from __future__ import annotations

import math

from workflow.novelty import corpus_ngrams, ngrams, novelty_rows


def test_ngrams():
    assert ngrams("a b c d".split(), 2) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert ngrams(["a"], 2) == []


def test_corpus_holds_valid_and_junk_traces_and_nothing_false():
    corpus = corpus_ngrams([{"numbers": [4, 5, 12], "target": 13}], 255, 4)
    assert ("12", "+", "5", "=") in corpus  # a step of a valid trace
    assert ("+", "4", "=", "21") in corpus  # 17 + 4 = 21: a junk trace reaching another value
    assert ("+", "5", "=", "18") not in corpus  # false arithmetic never occurs in the corpus


def test_novelty_rows():
    corpus = corpus_ngrams([{"numbers": [4, 5, 12], "target": 13}], 255, 4)
    rows = [
        dict(problem_id="p", sample_idx=0, completion="12 + 5 = 17 , 17 - 4 = 13", correct=True),
        dict(problem_id="p", sample_idx=1, completion="12 + 5 = 18 , 18 - 5 = 13", correct=False),
        dict(problem_id="p", sample_idx=2, completion="", correct=False),
        dict(problem_id="p", sample_idx=9, completion="12 + 5 = 17 , 17 - 4 = 13", correct=True),
    ]
    out = novelty_rows(rows, corpus, 4, samples=3)
    assert len(out) == 3  # sample 9 is beyond the first three samples
    assert out[0]["novelty"] == 0.0
    assert 0 < out[1]["novelty"] <= 1
    assert math.isnan(out[2]["novelty"])  # no n-grams in an empty response: undefined, not zero
