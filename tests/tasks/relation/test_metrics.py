"""RE scores: hand-worked cases and parity with scikit-learn (BioBERT re_eval, ChemProt/DDI)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from biobert_tf.tasks.relation.metrics import (binary_scores, cv_summary, find_negative, format_report,
                                   mean_std, multiclass_scores)


@pytest.fixture(scope="module")
def sk():
    """sklearn.metrics for the parity tests (the library itself never imports scikit-learn)."""
    return pytest.importorskip(
        "sklearn.metrics", reason="parity tests: pip install scikit-learn (in the test extra)")


def test_binary_hand_worked():
    # gold 1 1 0 0 1 0 / pred 1 0 0 1 1 0: tp 2 (0, 4), fn 1 (1), fp 1 (3), tn 2 (2, 5).
    s = binary_scores(["1", "1", "0", "0", "1", "0"], ["1", "0", "0", "1", "1", "0"], positive="1")
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (2, 1, 2, 1)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3) and s["specificity"] == pytest.approx(2 / 3)
    assert s["accuracy"] == pytest.approx(4 / 6) and s["num_examples"] == 6
    # precision 3/4, recall 3/5: F1 = 2 * .75 * .6 / 1.35 = 2/3; specificity 4/5.
    s = binary_scores([1] * 5 + [0] * 5, [1, 1, 1, 0, 0, 1, 0, 0, 0, 0], positive=1)
    assert (s["precision"], s["recall"], s["specificity"]) == (0.75, 0.6, 0.8)
    assert s["f1"] == pytest.approx(2 / 3)


def test_binary_zero_division_is_zero():
    none_predicted = binary_scores([1, 0, 1], [0, 0, 0], positive=1)
    none = none_predicted
    assert (none["precision"], none["recall"], none["f1"]) == (0.0, 0.0, 0.0)
    assert none_predicted["specificity"] == 1.0
    no_gold = binary_scores([0, 0], [0, 1], positive=1)
    assert (no_gold["precision"], no_gold["recall"], no_gold["f1"]) == (0.0, 0.0, 0.0)
    assert no_gold["specificity"] == 0.5
    empty = binary_scores([], [], positive="1")
    assert all(empty[k] == 0.0 for k in ("precision", "recall", "f1", "specificity", "accuracy"))


@pytest.mark.parametrize("seed", range(5))
def test_binary_matches_sklearn_as_re_eval(seed, sk):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    q = rng.uniform(0.1, 0.9)
    gold = rng.choice(["0", "1"], size=n, p=[q, 1 - q]).tolist()
    pred = [g if rng.random() < 0.7 else str(rng.choice(["0", "1"])) for g in gold]
    s = binary_scores(gold, pred, positive="1")
    # BioBERT biocodes/re_eval.py: per-class sklearn scores, class 1 for P/R/F1, recall of 0 as
    # specificity.
    p, r, f, _ = sk.precision_recall_fscore_support(
        gold, pred, labels=["0", "1"], zero_division=0)
    assert s["precision"] == pytest.approx(p[1]) and s["recall"] == pytest.approx(r[1])
    assert s["f1"] == pytest.approx(f[1]) and s["specificity"] == pytest.approx(r[0])
    assert s["accuracy"] == pytest.approx(sk.accuracy_score(gold, pred))
    tn, fp, fn, tp = sk.confusion_matrix(gold, pred, labels=["0", "1"]).ravel()
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (tp, fp, tn, fn)


def test_binary_input_errors():
    with pytest.raises(TypeError, match=r"positive=1 is int but the labels are str"):
        binary_scores(["0", "1"], ["1", "1"], positive=1)
    with pytest.raises(ValueError, match="2 gold labels but 1 predicted"):
        binary_scores(["0", "1"], ["1"], positive="1")
    with pytest.raises(TypeError, match="not a str"):
        binary_scores("0110", "0110", positive="1")
    with pytest.raises(TypeError, match=r"gold\[1\] = 1.5"):
        binary_scores(["0", 1.5], ["0", "1"], positive="1")
    assert binary_scores(np.array([0, 1]), np.array([1, 1]), positive=np.int64(1))["tp"] == 1


CPR = ["false", "CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9"]


def test_multiclass_hand_worked_chemprot():
    gold = ["CPR:3", "CPR:3", "CPR:4", "false", "false", "CPR:9", "CPR:4"]
    pred = ["CPR:3", "false", "CPR:3", "CPR:4", "false", "CPR:9", "CPR:4"]
    s = multiclass_scores(gold, pred, CPR, negative="false")
    # Positive golds: 5 (CPR:3 x2, CPR:4 x2, CPR:9); positive predictions: 5 (all but the two
    # "false"); correct positives: 3 (ex 0, 5, 6). Ex 1 is a FN only (predicted negative), ex 3 a FP
    # only (gold negative), ex 2 both (wrong positive class). The true negative (ex 4) counts
    # nowhere.
    assert (s["num_gold"], s["num_pred"], s["num_correct"]) == (5, 5, 3)
    assert (s["precision"], s["recall"], s["f1"]) == (0.6, 0.6, pytest.approx(0.6))
    assert s["accuracy"] == pytest.approx(4 / 7)
    per = s["per_class"]
    assert (per["CPR:3"]["precision"], per["CPR:3"]["recall"]) == (0.5, 0.5)
    assert (per["CPR:4"]["precision"], per["CPR:4"]["recall"]) == (0.5, 0.5)
    assert per["CPR:9"]["f1"] == 1.0
    assert per["CPR:5"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "num_pred": 0,
                            "num_correct": 0}
    # Macro over the five positive classes: F1s 0.5, 0.5, 0, 0, 1.
    assert s["macro_f1"] == pytest.approx((0.5 + 0.5 + 1.0) / 5)
    assert s["positive_labels"] == CPR[1:]
    cm = np.array(s["confusion_matrix"])
    assert cm.shape == (6, 6) and cm.sum() == 7
    assert cm[CPR.index("CPR:3"), CPR.index("false")] == 1  # gold row, predicted column


def _random_case(rng, labels, n):
    p = rng.dirichlet(np.ones(len(labels)) * 0.7)
    gold = rng.choice(labels, size=n, p=p).tolist()
    noise = rng.choice(labels, size=n, p=rng.dirichlet(np.ones(len(labels)))).tolist()
    keep = rng.random(n) < rng.uniform(0.3, 0.9)
    return gold, [g if k else x for g, k, x in zip(gold, keep, noise)]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("labels", [CPR, ["DDI-false", "DDI-advise", "DDI-effect", "DDI-int",
                                          "DDI-mechanism"], [0, 1, 2]])
def test_multiclass_matches_sklearn(seed, labels, sk):
    rng = np.random.default_rng(seed)
    gold, pred = _random_case(rng, labels, int(rng.integers(1, 400)))
    negative = find_negative([str(x) for x in labels])
    negative = labels[[str(x) for x in labels].index(negative)] if negative is not None else None
    positive = [x for x in labels if x != negative]
    s = multiclass_scores(gold, pred, labels, negative=negative)
    prfs = sk.precision_recall_fscore_support
    for average, prefix in (("micro", ""), ("macro", "macro_")):
        p, r, f, _ = prfs(gold, pred, labels=positive, average=average, zero_division=0)
        assert s[prefix + "precision"] == pytest.approx(p, abs=1e-12)
        assert s[prefix + "recall"] == pytest.approx(r, abs=1e-12)
        assert s[prefix + "f1"] == pytest.approx(f, abs=1e-12)
    p, r, f, support = prfs(gold, pred, labels=labels, average=None, zero_division=0)
    for i, label in enumerate(labels):
        row = s["per_class"][label]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p[i], r[i], f[i]))
        assert row["support"] == support[i]
    assert s["confusion_matrix"] == sk.confusion_matrix(gold, pred, labels=labels).tolist()
    assert s["accuracy"] == pytest.approx(sk.accuracy_score(gold, pred))


def test_multiclass_without_negative_and_edge_cases():
    gold, pred = ["A", "B", "C", "A"], ["A", "C", "C", "B"]
    s = multiclass_scores(gold, pred, ["A", "B", "C"])
    assert s["negative"] is None and s["positive_labels"] == ["A", "B", "C"]
    assert s["precision"] == s["recall"] == s["f1"] == s["accuracy"] == 0.5
    # Only negatives predicted and present: no positive prediction, every average is 0.
    s = multiclass_scores(["false", "false"], ["false", "false"], CPR, negative="false")
    assert (s["precision"], s["recall"], s["f1"], s["macro_f1"]) == (0.0, 0.0, 0.0, 0.0)
    assert s["accuracy"] == 1.0
    empty = multiclass_scores([], [], CPR, negative="false")
    assert empty["accuracy"] == 0.0 and np.array(empty["confusion_matrix"]).sum() == 0
    json.dumps(s)  # plain Python: written as the metrics json as it is


def test_multiclass_input_errors():
    with pytest.raises(ValueError, match=r"pred has labels not in labels .*'CPR:7'"):
        multiclass_scores(["CPR:3"], ["CPR:7"], CPR, negative="false")
    with pytest.raises(ValueError, match="negative class 'False' is not one of labels"):
        multiclass_scores(["CPR:3"], ["CPR:3"], CPR, negative="False")
    with pytest.raises(ValueError, match="appears twice"):
        multiclass_scores(["a"], ["a"], ["a", "b", "a"])
    with pytest.raises(ValueError, match="1 gold labels but 2 predicted"):
        multiclass_scores(["a"], ["a", "b"], ["a", "b"])


def test_find_negative():
    assert find_negative(["0", "1"]) == "0"
    assert find_negative(CPR) == "false"
    assert find_negative(["DDI-advise", "DDI-false"]) == "DDI-false"
    assert find_negative(["INHIBITOR", "AGONIST"]) is None
    assert find_negative([0, 1]) is None  # int class ids are not label names


def test_format_report():
    binary = binary_scores(["1", "0", "1"], ["1", "1", "0"], positive="1")
    text = format_report(binary)
    assert text.splitlines()[:4] == ["f1 score    : 50.00%", "recall      : 50.00%",
                                     "precision   : 50.00%", "specificity : 0.00%"]
    assert "tp 1, fp 1, tn 0, fn 1 (3 examples, positive class '1')" in text
    multi = multiclass_scores(["CPR:3", "false", "CPR:4"], ["CPR:3", "CPR:4", "false"], CPR,
                              negative="false")
    text = format_report(multi)
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["false", "(negative)"]
    micro = next(line for line in lines if line.startswith("micro (positive classes)"))
    assert micro.split()[3:] == ["50.00", "50.00", "50.00", "2", "2"]
    assert "accuracy: 33.33% of 3 examples" in text
    title = "confusion matrix (rows: gold, columns: predicted, numbered as the rows)"
    matrix = lines[lines.index(title) + 1:]
    assert matrix[0].split() == [str(i) for i in range(len(CPR))]
    assert matrix[1].split() == ["0", "false", "0", "0", "1", "0", "0", "0"]


def test_mean_std_and_cv_summary():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)  # sample std over folds
    mean, std = mean_std([1.0, 2.0, 3.0], ddof=0)
    assert std == pytest.approx(np.std([1, 2, 3]))
    assert mean_std([0.8]) == (0.8, 0.0)
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])
    folds = [binary_scores(["1", "0"], ["1", "0"], "1"), binary_scores(["1", "0"], ["0", "0"], "1")]
    summary = cv_summary(folds)
    assert summary["f1"] == {"mean": 0.5, "std": pytest.approx(np.std([1, 0], ddof=1)),
                             "values": [1.0, 0.0]}
    assert "tp" not in summary and "positive" not in summary


def test_no_sklearn_at_runtime():
    code = ("import sys, biobert_tf.tasks.relation.metrics, biobert_tf.tasks.relation.data; "
            "bad = [m for m in ('sklearn', 'tensorflow') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
