"""BioASQ answers: per-question merging of the span model's n-best lists, the list threshold,
the golden answers a prediction is scored against, and the submission file (written for
every BioASQ predict file, with or without its answers).

BioASQ pair ids (`<24-char id>_NNN`, one per (question, snippet) pair) are merged per
question: the probabilities of case-insensitively identical answers are summed, empty and
> 100-character answers are dropped; factoid questions keep the top 5, list questions every
answer whose merged probability is at least a threshold × the question's best (tuned on dev
questions when there are golden ones).
"""

from __future__ import annotations

import collections
import json
from typing import Mapping, Sequence

import numpy as np
from absl import logging

from biobert_tf import atomic_files
from biobert_tf.tasks.qa import data as qa_data
from biobert_tf.tasks.qa import metrics as qa_metrics

ANSWER_FILE = "BioASQform_BioASQ-answer.json"  # BioBERT's name
MAX_ANSWER_CHARS = 100
FACTOID_ANSWERS = 5
# The measure of each question type that ranks models (dev score, early stopping).
MAIN_MEASURE = {"factoid": "mrr", "list": "f1", "yesno": "macro_f1"}
_MEASURES = {"factoid": qa_metrics.factoid_scores, "list": qa_metrics.list_scores,
             "yesno": qa_metrics.yesno_scores}

Merged = dict[str, list[tuple[str, float]]]  # question id → (answer, probability), best first


def merge_per_question(nbest: Mapping[str, list[dict]]) -> Merged:
    """The answers of every question over its (question, snippet) pairs, with the summed
    probabilities of case-insensitively identical texts, best first; empty and over-long
    answers dropped. A question whose pairs gave nothing has an empty list."""
    merged: dict[str, dict[str, list]] = collections.defaultdict(dict)
    for pair, answers in nbest.items():
        totals = merged[qa_data.question_id(pair)]
        for answer in answers:
            text = answer["text"].strip()
            if not text or len(text) > MAX_ANSWER_CHARS:
                continue
            entry = totals.setdefault(text.lower(), [text, 0.0, 0.0])
            entry[1] += answer["probability"]
            if answer["probability"] > entry[2]:  # the surface form of the best occurrence
                entry[0], entry[2] = text, answer["probability"]
    return {qid: [(text, total) for text, total, _ in
                  sorted(totals.values(), key=lambda e: -e[1])]
            for qid, totals in merged.items()}


def factoid_answers(merged: Merged) -> dict[str, list[str]]:
    """The top 5 merged answers of every question."""
    return {qid: [text for text, _ in answers[:FACTOID_ANSWERS]]
            for qid, answers in merged.items()}


def list_answers(merged: Merged, threshold: float) -> dict[str, list[str]]:
    """Every answer with at least `threshold` × the question's best merged probability."""
    return {qid: [text for text, p in answers if p >= threshold * answers[0][1]]
            if answers else [] for qid, answers in merged.items()}


def tune_list_threshold(merged: Merged, gold: dict) -> tuple[float, float]:
    """(threshold, mean F1) of the best of 0.05, 0.10, ..., 1.0 on dev questions."""
    grid = np.round(np.arange(0.05, 1.0001, 0.05), 2)
    f1 = [qa_metrics.list_scores(gold, list_answers(merged, t))["f1"] for t in grid]
    best = int(np.argmax(f1))
    return float(grid[best]), f1[best]


def golden_answers(golden: Sequence[qa_data.GoldenQuestion], question_type: str,
                   name: str) -> dict:
    """{question id: gold} for the answered questions of one type among golden questions
    (factoid: the synonyms; list: the items; yes/no: "yes"/"no"): empty for a test set (no
    `exact_answer`); an error naming their file (`name`) when none is of the type."""
    questions = [q for q in golden if q.type == question_type]
    if not questions:
        raise qa_data.QaDataError(f"{name}: no {question_type} questions to score")
    answered = [q for q in questions if q.exact_answer is not None]
    if answered and len(answered) < len(questions):
        logging.warning("%s: %d of %d %s questions have no exact_answer and are not scored",
                        name, len(questions) - len(answered), len(questions), question_type)
    if question_type == "yesno":
        return {q.id: q.exact_answer for q in answered}
    items = {q.id: qa_data.answer_items(q) for q in answered}
    return {qid: v[0] for qid, v in items.items()} if question_type == "factoid" else items


def is_bioasq(example_ids: Sequence[str]) -> bool:
    """Whether examples are BioASQ (question, snippet) pairs (`<24-char id>_NNN`), whose
    answers are merged per question and submitted in BioASQ's format."""
    return bool(example_ids) and all(qa_data.question_id(i) != i for i in example_ids)


def scores(question_type: str, gold: dict, answers: dict) -> dict:
    """BioASQ's measures of the question type (see `qa.metrics`)."""
    return _MEASURES[question_type](gold, answers)


def write_answers(path: str, question_type: str, answers: dict) -> None:
    """BioASQ's submission format: {"questions": [{"id", "type", "exact_answer"}]}, factoid
    (top 5) and list answers as [[a1], [a2], ...], yes/no as "yes" or "no"."""
    questions = [{"id": qid, "type": question_type,
                  "exact_answer": value if question_type == "yesno" else [[a] for a in value]}
                 for qid, value in answers.items()]
    atomic_files.write_text(path, json.dumps({"questions": questions}, indent=1,
                                          ensure_ascii=False))
