"""QA end to end: SQuAD or BioASQ files → windows → the span model (factoid, list) or the
yes/no classifier → n-best predictions, BioASQ answer files and scores. `run_qa.py` is flags
around `run`.

- **Span questions** (SQuAD, BioASQ factoid and list): `QaRunner` trains on SQuAD-format
  files or on examples built from BioASQ golden files (`qa_data.span_examples`), and writes
  Google's `predictions.json` and `nbest_predictions.json` (every question id of the predict
  file). BioASQ pair ids (`<24-char id>_NNN`) are merged per question: the probabilities of
  case-insensitively identical answers are summed, empty and > 100-character answers are
  dropped; factoid questions keep the top 5, list questions every answer whose merged
  probability is at least `list_threshold` × the question's best (tuned on a dev golden file
  when one is given). Both go to BioBERT's `BioASQform_BioASQ-answer.json`.
- **Yes/no questions**: `YesNoRunner` classifies each (question, snippet) pair with
  BioBERT's `[CLS]` classifier; a question is "yes" when its pairs' mean P(yes) is >= 0.5.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf.tasks.qa import data as qa_data
from biobert_tf.tasks.qa import metrics as qa_metrics
from biobert_tf.engine import training
from biobert_tf.tasks.classification import ENCODER_INPUTS, ClassificationTask, PairClassifier
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.tasks.qa.data import QaExample
from biobert_tf.tasks.qa.inputs import QaEncoder
from biobert_tf.tasks.qa.model import MODEL_INPUTS, SPAN_INPUTS, QaAnswerer, QaModel, QaTask, \
    YesNoAnswerer, top_spans
from biobert_tf.engine.runner import RunConfig, TaskRunner

ANSWER_FILE = "BioASQform_BioASQ-answer.json"  # BioBERT's name
MAX_ANSWER_CHARS = 100
FACTOID_ANSWERS = 5
ENCODE_BATCH = 256  # examples per call of the in-graph encoder
DECODE_BATCH = 256  # examples per call of the span decoder
YESNO_LABELS = ("no", "yes")


@dataclasses.dataclass
class QaRun(RunConfig):
    """The QA settings beyond the shared ones (BioBERT's run_qa.py flags and ours)."""

    max_seq_length: int = 384
    question_type: str = "factoid"  # factoid | list | yesno
    train_file: str | None = None  # comma-separated SQuAD or BioASQ golden json files
    predict_file: str | None = None
    golden_file: str | None = None  # BioASQ gold for scoring (default: a golden predict_file)
    dev_file: str | None = None  # golden list questions to tune list_threshold on
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    list_threshold: float = 0.5


def read_examples(files: str, question_type: str, training_data: bool) -> list[QaExample]:
    """Examples of comma-separated SQuAD-format or BioASQ golden files. From golden files:
    span examples of `question_type` questions for training, else every (question,
    snippet) pair (yes/no pairs labelled)."""
    examples = []
    for path in files.split(","):
        if not qa_data.is_golden(path):
            if question_type == "yesno":
                raise ValueError(f"{path}: yes/no questions come from BioASQ golden files "
                                 "(their snippets and exact answers), not SQuAD files")
            examples += qa_data.read_squad(path)
            continue
        questions = qa_data.read_golden(path)
        if training_data and question_type != "yesno":
            found, report = qa_data.span_examples(questions, (question_type,))
            logging.info("%s: %s questions: %d of %d have an answer in a snippet; %d of %d "
                         "snippets hold one; %d examples", path, question_type,
                         report.get("questions_with_example", 0), report.get("questions", 0),
                         report.get("snippets_with_answer", 0), report.get("snippets", 0),
                         len(found))
            examples += found
        else:
            examples += qa_data.pair_examples(questions, (question_type,))
    if not examples:
        raise ValueError(f"{files}: no {question_type} examples")
    return examples


class QaRunner(TaskRunner):
    """Span extraction (SQuAD, BioASQ factoid and list) on the shared TaskRunner."""

    task_name = "qa"
    model_inputs = MODEL_INPUTS
    sequence_outputs = ("start_logits", "end_logits")

    def __init__(self, run: QaRun, strategy: tf.distribute.Strategy):
        super().__init__(run, strategy)
        self.encoder = QaEncoder(self.tokenizer, run.max_seq_length, run.doc_stride,
                                 run.max_query_length)

    def make_model(self) -> QaModel:
        return QaModel(BertEncoder.from_bert_config(self.config))

    def make_task(self, model: QaModel) -> QaTask:
        return QaTask(model)

    def encode(self, examples: Sequence[QaExample]) -> dict[str, np.ndarray]:
        """Windows of every example (`example` indexes `examples`), labelled by the first
        gold answer where there is one."""
        parts = []
        for i in range(0, len(examples), ENCODE_BATCH):
            batch = examples[i:i + ENCODE_BATCH]
            starts = [x.answers[0].start if x.answers else -1 for x in batch]
            ends = [x.answers[0].end if x.answers else -1 for x in batch]
            out = {k: v.numpy() for k, v in self.encoder(
                tf.constant([x.question for x in batch]), tf.constant([x.context for x in batch]),
                tf.constant(starts, tf.int32), tf.constant(ends, tf.int32)).items()}
            out["example"] += i
            parts.append(out)
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def fit(self, examples: Sequence[QaExample]) -> training.Trainer:
        answered = [x for x in examples if x.answers]
        if len(answered) < len(examples):
            logging.warning("%d training questions without an answer are left out",
                            len(examples) - len(answered))
        features = self.encode(answered)
        found = int((features["start_positions"] > 0).sum())
        logging.info("%d training questions → %d windows (%d hold their answer)", len(answered),
                     len(features["example"]), found)
        return self.train({k: features[k] for k in MODEL_INPUTS + ("start_positions",
                                                                  "end_positions")},
                          what="training windows")

    def nbest(self, trainer: training.Trainer, examples: Sequence[QaExample]
              ) -> dict[str, list[dict]]:
        """Google's n-best list per question id: distinct answer texts, best first, each
        with its `probability` (softmax over the list), logits and character offsets."""
        run = self.run
        features = self.encode(examples)
        logits = self.predict(trainer, features, run.predict_batch_size)
        decode = tf.function(top_spans, reduce_retracing=True)
        result = {}
        for first in range(0, len(examples), DECODE_BATCH):
            rows = np.flatnonzero((features["example"] >= first) &
                                  (features["example"] < first + DECODE_BATCH))
            chunk = examples[first:first + DECODE_BATCH]
            windows = {k: tf.constant(features[k][rows]) for k in SPAN_INPUTS}
            windows["example"] = tf.constant(features["example"][rows] - first)
            spans = decode(tf.constant(logits["start_logits"][rows]),
                           tf.constant(logits["end_logits"][rows]), windows,
                           tf.constant(len(chunk)), 2 * run.n_best_size, run.max_answer_length)
            spans = {k: v.to_list() for k, v in spans.items()}
            for row, example in enumerate(chunk):
                result[example.id] = _distinct_best(example.context,
                                                    {k: v[row] for k, v in spans.items()},
                                                    run.n_best_size)
        return result

    def answerer(self) -> QaAnswerer:
        return QaAnswerer(self.model, self.encoder, self.run.n_best_size,
                          self.run.max_answer_length)

    def export(self, export_dir: str) -> None:
        """SavedModel: raw (question, context) strings in → answer spans out."""
        self.save_serving_module(self.answerer(), export_dir, "QA")


def _distinct_best(context: str, spans: dict[str, list], n_best: int) -> list[dict]:
    best, seen = [], set()
    for start, end, score, start_logit, end_logit in zip(
            spans["start"], spans["end"], spans["score"], spans["start_logit"],
            spans["end_logit"]):
        text = context[start:end]
        if text in seen:
            continue
        seen.add(text)
        best.append({"text": text, "start": start, "end": end, "score": score,
                     "start_logit": start_logit, "end_logit": end_logit})
        if len(best) == n_best:
            break
    if not best:  # no valid span at all (Google writes "empty")
        return [{"text": "", "start": -1, "end": -1, "score": 0.0, "start_logit": 0.0,
                 "end_logit": 0.0, "probability": 1.0}]
    scores = np.array([b["score"] for b in best])
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    for b, p in zip(best, probabilities):
        b["probability"] = float(p)
    return best


def merge_per_question(nbest: dict[str, list[dict]]) -> dict[str, list[tuple[str, float]]]:
    """BioASQ: the answers of every question over its (question, snippet) pairs, with the
    summed probabilities of case-insensitively identical texts, best first; empty and
    over-long answers dropped. A question whose pairs gave nothing has an empty list."""
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


def list_answers(merged: dict[str, list[tuple[str, float]]], threshold: float
                 ) -> dict[str, list[str]]:
    """Every answer with at least `threshold` × the question's best merged probability."""
    return {qid: [text for text, p in answers if p >= threshold * answers[0][1]]
            if answers else [] for qid, answers in merged.items()}


def tune_list_threshold(merged: dict, gold: dict) -> tuple[float, float]:
    """(threshold, mean F1) of the best of 0.05, 0.10, ..., 1.0 on dev questions."""
    grid = np.round(np.arange(0.05, 1.0001, 0.05), 2)
    f1 = [qa_metrics.list_scores(gold, list_answers(merged, t))["f1"] for t in grid]
    best = int(np.argmax(f1))
    return float(grid[best]), f1[best]


def golden_answers(path: str, question_type: str) -> dict:
    """{question id: gold} for the questions of one type in a golden file (factoid: the
    synonyms; list: the items; yes/no: "yes"/"no")."""
    questions = [q for q in qa_data.read_golden(path) if q.type == question_type]
    if question_type == "yesno":
        return {q.id: q.exact_answer for q in questions}
    items = {q.id: qa_data.answer_items(q) for q in questions}
    return {qid: v[0] for qid, v in items.items()} if question_type == "factoid" else items


def write_bioasq_answers(path: str, question_type: str, answers: dict) -> None:
    """BioASQ's submission format: factoid/list answers as [[a1], [a2], ...]."""
    questions = [{"id": qid, "type": question_type,
                  "exact_answer": value if question_type == "yesno" else [[a] for a in value]}
                 for qid, value in answers.items()]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"questions": questions}, f, indent=1, ensure_ascii=False)


class YesNoRunner(TaskRunner):
    """BioASQ yes/no: BioBERT's [CLS] classifier over (question, snippet) pairs."""

    task_name = "qa_yesno"
    model_inputs = ENCODER_INPUTS

    def make_model(self) -> PairClassifier:
        return PairClassifier(BertEncoder.from_bert_config(self.config), len(YESNO_LABELS),
                              self.config.hidden_dropout_prob)

    def make_task(self, model: PairClassifier) -> ClassificationTask:
        return ClassificationTask(model)

    def encode(self, examples: Sequence[QaExample]) -> dict[str, np.ndarray]:
        tok, parts = self.tokenizer, []
        for i in range(0, len(examples), ENCODE_BATCH):
            batch = examples[i:i + ENCODE_BATCH]
            packed = tok.pack(tok.tokenize(tf.constant([x.question for x in batch])),
                              tok.tokenize(tf.constant([x.context for x in batch])),
                              self.run.max_seq_length)
            parts.append({k: packed[k].numpy() for k in ENCODER_INPUTS + ("num_truncated",)})
        features = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        truncated = int((features.pop("num_truncated") > 0).sum())
        if truncated:
            logging.warning("%d of %d (question, snippet) pairs are longer than "
                            "max_seq_length=%d and were truncated", truncated, len(examples),
                            self.run.max_seq_length)
        features["label_id"] = np.array([YESNO_LABELS.index(x.label) if x.label else 0
                                         for x in examples], np.int32)
        return features

    def fit(self, examples: Sequence[QaExample]) -> training.Trainer:
        return self.train(self.encode(examples), what="(question, snippet) pairs")

    def export(self, export_dir: str) -> None:
        """SavedModel: raw (question, snippet) strings in → P(yes) out."""
        self.save_serving_module(
            YesNoAnswerer(self.model, self.tokenizer, self.run.max_seq_length), export_dir,
            "yes/no")

    def answers(self, trainer: training.Trainer, examples: Sequence[QaExample]
                ) -> dict[str, str]:
        """'yes' or 'no' per question: the mean P(yes) of its pairs against 0.5."""
        probabilities = self.predict(trainer, self.encode(examples),
                                     self.run.predict_batch_size)["probabilities"][:, 1]
        per_question = collections.defaultdict(list)
        for example, p in zip(examples, probabilities):
            per_question[qa_data.question_id(example.id)].append(float(p))
        return {qid: "yes" if np.mean(ps) >= 0.5 else "no" for qid, ps in per_question.items()}


def _write_json(path: str, value) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)


def run(run: QaRun, strategy: tf.distribute.Strategy, do_train: bool, do_predict: bool,
        export_dir: str | None = None) -> dict:
    """Trains and/or predicts as the flags say; writes the predictions, answers and scores
    into output_dir and returns the scores."""
    runner = (YesNoRunner if run.question_type == "yesno" else QaRunner)(run, strategy)
    if do_train:
        trainer = runner.fit(read_examples(run.train_file, run.question_type, True))
    else:
        trainer = runner.restore()
    scores = predict(runner, trainer) if do_predict else {}
    if export_dir and training.is_chief(strategy):
        runner.export(export_dir)
    return scores


def predict(runner: QaRunner | YesNoRunner, trainer: training.Trainer) -> dict:
    """Answers the predict file; scores them with SQuAD's measures (when it has answers) and
    BioASQ's (with a golden file)."""
    run, kind = runner.run, runner.run.question_type
    chief = training.is_chief(runner.strategy)
    examples = read_examples(run.predict_file, kind, training_data=False)
    if kind == "yesno":
        answers, scores = runner.answers(trainer, examples), {}
    else:
        answers, scores = _span_answers(runner, trainer, examples, chief)
    golden = run.golden_file or (run.predict_file if qa_data.is_golden(run.predict_file)
                                 else None)
    if golden is not None:
        measure = {"factoid": qa_metrics.factoid_scores, "list": qa_metrics.list_scores,
                   "yesno": qa_metrics.yesno_scores}[kind]
        scores["bioasq"] = measure(golden_answers(golden, kind), answers)
    if chief:
        if golden is not None:
            write_bioasq_answers(os.path.join(run.output_dir, ANSWER_FILE), kind, answers)
        if scores:
            _write_json(os.path.join(run.output_dir, "qa_metrics.json"), scores)
            training.write_results(os.path.join(run.output_dir, "eval_results.txt"),
                                   {f"{group}_{k}": v for group, values in scores.items()
                                    for k, v in values.items()})
    return scores


def _span_answers(runner: QaRunner, trainer: training.Trainer, examples: list[QaExample],
                  chief: bool) -> tuple[dict, dict]:
    """Google's prediction files; per BioASQ question the merged factoid (top 5) or list
    answers; SQuAD scores when the examples have gold answers."""
    run, scores = runner.run, {}
    nbest = runner.nbest(trainer, examples)
    best = {qid: answers[0]["text"] for qid, answers in nbest.items()}
    if chief:
        _write_json(os.path.join(run.output_dir, "nbest_predictions.json"), nbest)
        _write_json(os.path.join(run.output_dir, "predictions.json"), best)
    gold = {x.id: [a.text for a in x.answers] for x in examples if x.answers}
    if gold:
        scores["squad"] = qa_metrics.squad_scores(gold, best)
    merged = merge_per_question(nbest)
    if run.question_type == "factoid":
        return {qid: [t for t, _ in a[:FACTOID_ANSWERS]] for qid, a in merged.items()}, scores
    threshold = run.list_threshold
    if run.dev_file:
        dev_nbest = runner.nbest(trainer, read_examples(run.dev_file, "list", False))
        threshold, dev_f1 = tune_list_threshold(merge_per_question(dev_nbest),
                                                golden_answers(run.dev_file, "list"))
        scores["list_threshold"] = {"threshold": threshold, "dev_f1": dev_f1}
        logging.info("list threshold %.2f (dev mean F1 %.4f)", threshold, dev_f1)
    return list_answers(merged, threshold), scores
