"""QA scores: parity with the official SQuAD v1.1 script on the real dev set, and the BioASQ
measures on hand-worked cases."""

import importlib.util
import json

import numpy as np
import pytest

from biobert_tf.tasks.qa.metrics import (factoid_scores, list_scores, normalize_answer,
                                   squad_scores, yesno_scores)
from helpers import shared_file


def official_squad():
    path = shared_file("qa", "SQuAD-v1.1", "evaluate-v1.1.py")
    spec = importlib.util.spec_from_file_location("evaluate_v11", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_squad_scores_equal_the_official_script_on_the_dev_set():
    official = official_squad()
    with open(shared_file("qa", "SQuAD-v1.1", "dev-v1.1.json"), encoding="utf-8") as f:
        dataset = json.load(f)["data"]
    rng = np.random.default_rng(0)
    gold, predictions = {}, {}
    for article in dataset:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                gold[qa["id"]] = [a["text"] for a in qa["answers"]]
                answer, kind = qa["answers"][0], rng.integers(6)
                start = answer["answer_start"]
                if kind == 0:  # exact
                    predictions[qa["id"]] = answer["text"]
                elif kind == 1:  # overlapping, shifted
                    predictions[qa["id"]] = context[max(start - 7, 0):start + len(answer["text"]) // 2]
                elif kind == 2:  # case, punctuation and articles differ
                    predictions[qa["id"]] = "The " + answer["text"].upper() + "!"
                elif kind == 3:  # elsewhere in the context
                    at = rng.integers(len(context))
                    predictions[qa["id"]] = context[at:at + 20]
                elif kind == 4:
                    predictions[qa["id"]] = ""
                # kind 5: no prediction at all
    expected = official.evaluate(dataset, predictions)
    ours = squad_scores(gold, predictions)
    assert ours["exact_match"] == pytest.approx(expected["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(expected["f1"], abs=1e-9)
    assert ours["num_questions"] == 10570
    for text in ("The  Denver Broncos!", "an apple, a day", "Ω-3 (n-3)"):
        assert normalize_answer(text) == official.normalize_answer(text)


def test_factoid_strict_lenient_and_mrr():
    gold = {"q1": ["BRCA1", "breast cancer 1"], "q2": [["TP53"], ["p53"]], "q3": ["EGFR"],
            "q4": ["insulin"]}
    answers = {"q1": ["brca1 ", "x"],                # first: strict
               "q2": ["a", "b", "P53"],              # third: lenient, 1/3
               "q3": ["a", "b", "c", "d", "e", "EGFR"],  # sixth: beyond the five
               }                                     # q4: no answer, wrong
    scores = factoid_scores(gold, answers)
    assert scores["strict_accuracy"] == 0.25
    assert scores["lenient_accuracy"] == 0.5
    assert scores["mrr"] == pytest.approx((1 + 1 / 3) / 4)
    assert scores["num_questions"] == 4


def test_list_mean_precision_recall_f1():
    gold = {"q1": [["sofosbuvir"], ["ledipasvir", "GS-5885"]], "q2": [["a"], ["b"], ["c"]],
            "q3": [["x"]]}
    answers = {"q1": ["Sofosbuvir", "gs-5885", "ribavirin", "sofosbuvir"],  # duplicate once
               "q2": ["a"]}
    scores = list_scores(gold, answers)
    p1, r1 = 2 / 3, 1.0
    p2, r2 = 1.0, 1 / 3
    f = [2 * p1 * r1 / (p1 + r1), 2 * p2 * r2 / (p2 + r2), 0.0]
    assert scores["mean_precision"] == pytest.approx((p1 + p2) / 3)
    assert scores["recall"] == pytest.approx((r1 + r2) / 3)
    assert scores["f1"] == pytest.approx(sum(f) / 3)


def test_yesno_accuracy_and_macro_f1():
    gold = {"a": "yes", "b": "yes", "c": "no", "d": "no", "e": "yes"}
    answers = {"a": "yes", "b": "no", "c": "no", "d": "yes"}  # e unanswered
    scores = yesno_scores(gold, answers)
    assert scores["accuracy"] == 0.4
    f1_yes = 2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3)
    f1_no = 2 * (1 / 2) * (1 / 2) / (1 / 2 + 1 / 2)
    assert scores["f1_yes"] == pytest.approx(f1_yes) and scores["f1_no"] == pytest.approx(f1_no)
    assert scores["macro_f1"] == pytest.approx((f1_yes + f1_no) / 2)
    with pytest.raises(ValueError, match="no gold"):
        yesno_scores({}, {})
