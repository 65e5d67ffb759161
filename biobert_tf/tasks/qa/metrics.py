"""QA scores: SQuAD v1.1 exact match / F1 and the BioASQ measures for factoid, list and yes/no.

- **SQuAD** (`squad_scores`): the official `evaluate-v1.1.py` — answers normalised by
  lower-casing, removing punctuation, the articles a/an/the and extra whitespace; exact match
  and token-overlap F1 against the best-matching gold answer, averaged over every gold
  question (a question without a prediction scores 0), in percent.
- **BioASQ factoid** (`factoid_scores`): up to five ranked answers per question; *strict
  accuracy* counts questions whose first answer is correct, *lenient accuracy* those with a
  correct answer anywhere in the five, *MRR* averages 1 / rank of the first correct one.
- **BioASQ list** (`list_scores`): per question, precision = correct returned answers /
  returned answers and recall = gold items found / gold items; F1 per question; the means
  over questions.
- **BioASQ yes/no** (`yesno_scores`): accuracy, the F1 of "yes" and of "no", and their mean
  (macro F1, BioASQ's main yes/no measure since 2019).

A BioASQ answer is correct when it equals one of the gold synonyms ignoring case and
surrounding whitespace; in a list, each gold item counts once however many answers match
it. Every BioASQ measure is over all gold questions of its type: a question without an
answer counts as wrong. BioASQ scores are fractions in [0, 1].
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence

_PUNCTUATION = set(string.punctuation)


# ---- SQuAD ---------------------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """evaluate-v1.1.py's normalisation: lower, drop punctuation, articles, extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_f1(prediction: str, truth: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def squad_scores(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> dict:
    """{exact_match, f1} in percent over every question of `gold` ({id: answer texts})."""
    if not gold:
        raise ValueError("no gold questions to score")
    exact = f1 = 0.0
    for qid, truths in gold.items():
        if qid not in predictions:
            continue
        prediction = predictions[qid]
        exact += max(squad_exact_match(prediction, t) for t in truths)
        f1 += max(squad_f1(prediction, t) for t in truths)
    return {"exact_match": 100.0 * exact / len(gold), "f1": 100.0 * f1 / len(gold),
            "num_questions": len(gold)}


# ---- BioASQ --------------------------------------------------------------------------------
def _key(text: str) -> str:
    return text.strip().lower()


def _synonyms(item) -> set[str]:
    """A gold item (one string or a list of synonyms) as its set of keys."""
    return {_key(item)} if isinstance(item, str) else {_key(s) for s in item}


def factoid_scores(gold: Mapping[str, Sequence], answers: Mapping[str, Sequence[str]],
                   top: int = 5) -> dict:
    """Strict / lenient accuracy and MRR of ranked answers ({id: [a1, ..., a5]}) against
    `gold` ({id: synonyms, as BioASQ's exact_answer: strings or lists of strings})."""
    if not gold:
        raise ValueError("no gold factoid questions to score")
    strict = lenient = reciprocal = 0.0
    for qid, synonyms in gold.items():
        keys = set().union(*(_synonyms(s) for s in synonyms)) if synonyms else set()
        ranked = [_key(a) for a in answers.get(qid, [])[:top]]
        rank = next((i + 1 for i, a in enumerate(ranked) if a in keys), None)
        if rank is not None:
            strict += rank == 1
            lenient += 1
            reciprocal += 1 / rank
    n = len(gold)
    return {"strict_accuracy": strict / n, "lenient_accuracy": lenient / n, "mrr": reciprocal / n,
            "num_questions": n}


def list_scores(gold: Mapping[str, Sequence], answers: Mapping[str, Sequence[str]]) -> dict:
    """Mean precision, recall and F1 over questions of answer sets against `gold`
    ({id: [item, ...]}, each item a string or a list of synonyms)."""
    if not gold:
        raise ValueError("no gold list questions to score")
    totals = {"mean_precision": 0.0, "recall": 0.0, "f1": 0.0}
    for qid, items in gold.items():
        items = [_synonyms(item) for item in items]
        returned = list(dict.fromkeys(_key(a) for a in answers.get(qid, [])))
        correct = sum(any(a in item for item in items) for a in returned)
        found = sum(any(a in item for a in returned) for item in items)
        precision = correct / len(returned) if returned else 0.0
        recall = found / len(items) if items else 0.0
        totals["mean_precision"] += precision
        totals["recall"] += recall
        totals["f1"] += (2 * precision * recall / (precision + recall)
                         if precision + recall else 0.0)
    return {**{k: v / len(gold) for k, v in totals.items()}, "num_questions": len(gold)}


def yesno_scores(gold: Mapping[str, str], answers: Mapping[str, str]) -> dict:
    """Accuracy, F1 of each class and macro F1 of yes/no answers against `gold`."""
    if not gold:
        raise ValueError("no gold yes/no questions to score")
    pairs = [(_key(g), _key(answers.get(qid, ""))) for qid, g in gold.items()]
    scores = {"accuracy": sum(g == p for g, p in pairs) / len(pairs)}
    for label in ("yes", "no"):
        tp = sum(g == p == label for g, p in pairs)
        predicted = sum(p == label for _, p in pairs)
        actual = sum(g == label for g, _ in pairs)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        scores[f"f1_{label}"] = (2 * precision * recall / (precision + recall)
                                 if precision + recall else 0.0)
    scores["macro_f1"] = (scores["f1_yes"] + scores["f1_no"]) / 2
    scores["num_questions"] = len(pairs)
    return scores
