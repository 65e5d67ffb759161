"""RE scores: BioBERT's binary re_eval; ChemProt/DDI micro-F1 over positive classes.

Two evaluations, as in the BioBERT papers:

- **Binary** (GAD, EU-ADR): `binary_scores` gives precision, recall and F1 of the positive class and
  specificity, exactly what BioBERT's `biocodes/re_eval.py` prints (it takes sklearn's per-class
  scores: P/R/F1 of class 1, and specificity = recall of class 0 = TN / (TN + FP)), plus accuracy and
  the four counts.
- **Multi-class with a negative class** (ChemProt: `CPR:3,4,5,6,9` + `false`; DDI: four types +
  `DDI-false`): `multiclass_scores` gives micro P/R/F1 over the positive classes only, which is
  `precision_recall_fscore_support(labels=<positive classes>, average="micro")` as BioBERT's and
  BLUE's ChemProt/DDI evaluation computes it. The negative class is left out on both sides: a
  negative prediction is no prediction (a gold positive predicted negative is only a false negative),
  and a gold negative predicted as a positive class is a false positive. A positive predicted as
  another positive class is both a false positive and a false negative. Macro F1 is the mean of the
  per-class F1 of the positive classes (sklearn's `average="macro"`, not the F1 of mean P and R).

Every ratio with a zero denominator is 0.0, as sklearn's `zero_division=0` (no predictions of a class
give precision 0, not an error). Scores are fractions in [0, 1]; `format_report` prints percentages.
Results are plain Python (floats, ints, lists), so they go to json as they are. NumPy only: nothing
here imports scikit-learn, which is a test dependency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

# Names of the "no relation" class in the BioBERT / BLUE releases (GAD/EU-ADR, ChemProt, DDI).
NEGATIVE_LABELS = ("0", "false", "DDI-false")


def find_negative(labels: Iterable) -> object | None:
    """The first label of `labels` that is a known negative class (`NEGATIVE_LABELS`), else None."""
    labels = list(labels)
    for name in NEGATIVE_LABELS:
        if name in labels:
            return name
    return None


def _kind(label) -> str:
    # bool is an int subclass, but True/False as class names is almost surely a bug upstream.
    if isinstance(label, str):
        return "str"
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
        return "int"
    return type(label).__name__


def _as_labels(values, name: str) -> list:
    if isinstance(values, str):
        raise TypeError(f"{name} must be a sequence of labels, not a str")
    out = list(values.tolist() if isinstance(values, np.ndarray) else values)
    for i, label in enumerate(out):
        if _kind(label) not in ("str", "int"):
            raise TypeError(f"{name}[{i}] = {label!r}: labels must be str or int")
    return out


def _pair(gold, pred) -> tuple[list, list]:
    gold = _as_labels(gold, "gold")
    pred = _as_labels(pred, "pred")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predicted labels")
    return gold, pred


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def _prf(tp: int, n_gold: int, n_pred: int) -> tuple[float, float, float]:
    precision = _ratio(tp, n_pred)
    recall = _ratio(tp, n_gold)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def binary_scores(gold: Sequence, pred: Sequence, positive) -> dict:
    """Scores of the `positive` class against all others (BioBERT re_eval).

    Returns `precision`, `recall`, `f1` (of the positive class), `specificity` = TN / (TN + FP),
    `accuracy` (exact label match over all examples), `tp`, `fp`, `tn`, `fn`, `num_examples` and
    `positive`. Any label other than `positive` counts as negative.
    """
    gold, pred = _pair(gold, pred)
    if isinstance(positive, np.generic):
        positive = positive.item()
    kinds = {_kind(x) for x in gold + pred}
    if kinds and _kind(positive) not in kinds:
        # e.g. labels "0"/"1" read from a tsv but positive=1: every score would silently be 0.
        raise TypeError(f"positive={positive!r} is {_kind(positive)} but the labels are "
                        f"{'/'.join(sorted(kinds))}")
    g = np.array([x == positive for x in gold], dtype=bool)
    p = np.array([x == positive for x in pred], dtype=bool)
    tp = int(np.sum(g & p))
    fp = int(np.sum(~g & p))
    fn = int(np.sum(g & ~p))
    tn = int(np.sum(~g & ~p))
    precision, recall, f1 = _prf(tp, tp + fn, tp + fp)
    correct = sum(a == b for a, b in zip(gold, pred))
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "specificity": _ratio(tn, tn + fp),
        "accuracy": _ratio(correct, len(gold)),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "num_examples": len(gold), "positive": positive,
    }


def multiclass_scores(gold: Sequence, pred: Sequence, labels: Sequence, negative=None) -> dict:
    """Micro/macro P/R/F1 over the positive classes, per-class table, confusion matrix, accuracy.

    `labels` is the full class list (its order is the confusion matrix's); every gold and predicted
    label must be in it. `negative` is the class excluded from the micro and macro averages
    (`find_negative(labels)` finds BioBERT's names); None averages over every class, and then micro
    P = R = F1 = accuracy.

    Returns `precision`, `recall`, `f1` (micro over positive classes), `macro_precision`,
    `macro_recall`, `macro_f1` (unweighted means of the per-class values of the positive classes),
    `accuracy` (all classes), `num_examples`, `labels`, `negative`, `positive_labels`, `num_gold` and
    `num_pred` (examples whose gold / predicted label is a positive class), `num_correct` (of those,
    predicted right), `per_class` {label: {precision, recall, f1, support (gold count), num_pred,
    num_correct}} for every label in `labels` order, and `confusion_matrix` (list of rows: row = gold
    label, column = predicted label, both in `labels` order, as sklearn's confusion_matrix).
    """
    gold, pred = _pair(gold, pred)
    labels = _as_labels(labels, "labels")
    index = {}
    for i, label in enumerate(labels):
        if label in index:
            raise ValueError(f"label {label!r} appears twice in labels")
        index[label] = i
    if negative is not None and negative not in index:
        raise ValueError(f"negative class {negative!r} is not one of labels {labels}")
    for name, values in (("gold", gold), ("pred", pred)):
        unknown = sorted({repr(x) for x in values if x not in index})
        if unknown:
            raise ValueError(f"{name} has labels not in labels {labels}: {', '.join(unknown)}")

    n = len(labels)
    cm = np.zeros((n, n), dtype=np.int64)
    if gold:
        np.add.at(cm, (np.array([index[x] for x in gold]), np.array([index[x] for x in pred])), 1)
    tp_c = np.diag(cm)
    gold_c = cm.sum(axis=1)
    pred_c = cm.sum(axis=0)

    positive = [i for i, label in enumerate(labels) if label != negative]
    tp = int(tp_c[positive].sum())
    n_gold = int(gold_c[positive].sum())
    n_pred = int(pred_c[positive].sum())
    precision, recall, f1 = _prf(tp, n_gold, n_pred)

    per_class = {}
    for i, label in enumerate(labels):
        p_i, r_i, f_i = _prf(int(tp_c[i]), int(gold_c[i]), int(pred_c[i]))
        per_class[label] = {"precision": p_i, "recall": r_i, "f1": f_i, "support": int(gold_c[i]),
                            "num_pred": int(pred_c[i]), "num_correct": int(tp_c[i])}

    def macro(key: str) -> float:
        return float(np.mean([per_class[labels[i]][key] for i in positive])) if positive else 0.0

    return {
        "precision": precision, "recall": recall, "f1": f1,
        "macro_precision": macro("precision"), "macro_recall": macro("recall"),
        "macro_f1": macro("f1"),
        "accuracy": _ratio(int(tp_c.sum()), len(gold)),
        "num_examples": len(gold),
        "labels": labels, "negative": negative,
        "positive_labels": [labels[i] for i in positive],
        "num_gold": n_gold, "num_pred": n_pred, "num_correct": tp,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def mean_std(values: Iterable[float], ddof: int = 1) -> tuple[float, float]:
    """Mean and standard deviation of per-fold (or per-seed) scores.

    `ddof=1` (default) is the sample standard deviation, the usual "mean ± std" over folds or
    seeds; a single value has std 0.0. Raises ValueError for no values.
    """
    array = np.asarray(list(values), dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("mean_std needs at least one value")
    std = float(np.std(array, ddof=ddof)) if array.size > ddof else 0.0
    return float(np.mean(array)), std


def cv_summary(fold_scores: Sequence[Mapping], ddof: int = 1) -> dict:
    """{key: {"mean", "std", "values"}} for every float score shared by all folds' score dicts.

    Counts (ints) and nested tables are left out: their mean over folds is not a score.
    """
    if not fold_scores:
        raise ValueError("cv_summary needs the scores of at least one fold")
    keys = [k for k, v in fold_scores[0].items() if isinstance(v, float)]
    summary = {}
    for key in keys:
        values = [s.get(key) for s in fold_scores]
        if not all(isinstance(v, float) for v in values):
            continue
        mean, std = mean_std(values, ddof=ddof)
        summary[key] = {"mean": mean, "std": std, "values": values}
    return summary


def _pct(x: float) -> str:
    return f"{100 * x:6.2f}" if math.isfinite(x) else "   nan"


def format_report(scores: Mapping) -> str:
    """Text report for a `binary_scores` or `multiclass_scores` result (percentages).

    Binary: BioBERT re_eval's lines (`f1 score`, `recall`, `precision`, `specificity`), then accuracy
    and the counts. Multi-class: a per-class table (the negative class marked, not averaged), micro
    and macro rows over the positive classes, accuracy, and the confusion matrix.
    """
    if "specificity" in scores:
        lines = [f"{name:11s} : {100 * scores[key]:.2f}%" for name, key in
                 (("f1 score", "f1"), ("recall", "recall"), ("precision", "precision"),
                  ("specificity", "specificity"), ("accuracy", "accuracy"))]
        lines.append(f"{'counts':11s} : tp {scores['tp']}, fp {scores['fp']}, tn {scores['tn']}, "
                     f"fn {scores['fn']} ({scores['num_examples']} examples, positive class "
                     f"{scores['positive']!r})")
        return "\n".join(lines) + "\n"

    labels = scores["labels"]
    negative = scores["negative"]
    names = [f"{label} (negative)" if label == negative else str(label) for label in labels]
    width = max([len(x) for x in names] + [len("micro (positive classes)")]) + 2
    header = (f"{'':{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"
              f"{'predicted':>10}")
    lines = [header]
    for name, label in zip(names, labels):
        s = scores["per_class"][label]
        lines.append(f"{name:{width}}{_pct(s['precision']):>10}{_pct(s['recall']):>10}"
                     f"{_pct(s['f1']):>10}{s['support']:>10}{s['num_pred']:>10}")
    lines.append("")
    lines.append(f"{'micro (positive classes)':{width}}{_pct(scores['precision']):>10}"
                 f"{_pct(scores['recall']):>10}{_pct(scores['f1']):>10}{scores['num_gold']:>10}"
                 f"{scores['num_pred']:>10}")
    lines.append(f"{'macro (positive classes)':{width}}{_pct(scores['macro_precision']):>10}"
                 f"{_pct(scores['macro_recall']):>10}{_pct(scores['macro_f1']):>10}")
    lines.append(f"accuracy: {100 * scores['accuracy']:.2f}% of {scores['num_examples']} examples")
    lines.append("")
    lines.append("confusion matrix (rows: gold, columns: predicted, numbered as the rows)")
    matrix = scores["confusion_matrix"]
    cell = max([len(str(len(labels) - 1))] + [len(str(v)) for row in matrix for v in row]) + 2
    row_head = max(len(str(label)) for label in labels) + len(str(len(labels) - 1)) + 3
    lines.append(" " * row_head + "".join(f"{i:>{cell}}" for i in range(len(labels))))
    for i, (label, row) in enumerate(zip(labels, matrix)):
        lines.append(f"{f'{i} {label}':{row_head}}" + "".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines) + "\n"
