"""QA as `Task`s: SQuAD or BioASQ files → windows → the span model (factoid, list) or the
yes/no classifier (`qa.yesno`) → n-best predictions, BioASQ answers and scores. `run_qa.py`
runs them through the driver.

- **Data**: `--train_file`, `--dev_file` and `--predict_file` (Google's name for the test
  split) are SQuAD-format json (SQuAD, BioBERT's BioASQ-in-SQuAD files) or official BioASQ
  golden json; golden files give span examples for training and every (question, snippet)
  pair otherwise (`read_examples`). With `--tfds_name=biobert_qa/<config>` the same flags name
  splits of that data set instead (`--predict_file=test_batch_1`, or `test` for the whole
  year), and `--golden_file` the same split of the year's golden questions
  (`bioasq_Nb_golden`).
- **Scores**: a split is scored with SQuAD's EM/F1 when its examples have answers, and with
  the BioASQ measures of `--question_type` against its golden file (a golden dev file; for
  the test split `--golden_file`, else a golden predict file). The dev score that early
  stopping follows (`score`) is the BioASQ main measure when there is a golden file — factoid
  MRR, list mean F1 (at the threshold tuned on that dev file), yes/no macro F1 — else SQuAD F1.
- **Span questions** (`SpanQaTask`) write Google's `predictions.json` and
  `nbest_predictions.json`; per BioASQ question the answers are merged (`qa.bioasq`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf import atomic_files, json_files
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine import distribute, tfds_source, training
from biobert_tf.engine.settings import FineTuningSettings, option
from biobert_tf.engine.task import DATA_SOURCE, Task
from biobert_tf.tasks.qa import bioasq
from biobert_tf.tasks.qa import data as qa_data
from biobert_tf.tasks.qa import metrics as qa_metrics
from biobert_tf.tasks.qa import tfds_builder as qa_tfds
from biobert_tf.tasks.qa.data import GoldenQuestion, QaExample
from biobert_tf.tasks.qa.inputs import QaEncoder
from biobert_tf.tasks.qa.model import MODEL_INPUTS, SPAN_INPUTS, QaAnswerer, QaModel, \
    SpanObjective, answer_text, top_spans

QUESTION_TYPES = ("factoid", "list", "yesno")
SPEC_FILE = "qa_training.json"
SCORE_GROUPS = ("squad", "bioasq", "list_threshold")  # the scores a result file holds
ENCODE_BATCH = 256  # examples per call of the in-graph encoder
DECODE_BATCH = 256  # examples per call of the span decoder
# One traced decoder for every split and epoch (a tf.function per call would retrace).
_decode_spans = tf.function(top_spans, reduce_retracing=True)
# Where a split's questions are: a file, or a split of a `biobert_qa` data set.
Source = str | tfds_source.Split


@dataclasses.dataclass
class QaSettings(FineTuningSettings):
    """run_qa.py's settings: Google's run_squad flags, BioBERT's and ours."""

    data_dir: str | None = option(
        None, "Directory that relative --train_file, --dev_file, --predict_file and "
        "--golden_file names are in (default: the working directory).")
    max_seq_length: int = option(384, "Wordpieces per window, [CLS]/[SEP] included. Saved "
                                 "with a trained model.")
    doc_stride: int = option(128, "Context pieces between the starts of two windows. Saved "
                             "with a trained model.", minimum=1)
    max_query_length: int = option(64, "Question pieces kept. Saved with a trained model.",
                                   minimum=1)
    question_type: str = option(
        "factoid", "factoid and list: the span model; yesno: a [CLS] classifier over "
        "(question, snippet) pairs. Saved with a trained model.", choices=QUESTION_TYPES)
    train_file: str | None = option(None, "SQuAD-format json or BioASQ golden json for "
                                    "training (comma-separated for several).")
    dev_file: str | None = option(
        None, "SQuAD-format json (scored with EM/F1) or BioASQ golden json (scored with the "
        "measures of --question_type) for --do_eval and early stopping; a golden file's list "
        "questions also tune --list_threshold.")
    predict_file: str | None = option(
        None, "SQuAD-format or BioASQ golden json to predict with --do_predict "
        "(comma-separated for several); scored when it has answers or a golden file. BioASQ "
        "questions (ids <24-char id>_NNN, or a golden-format file with or without answers) "
        "also get BioASQ's submission file.")
    golden_file: str | None = option(None, "BioASQ golden json to score the predictions with "
                                     "(default: the predict file, when it is a golden file "
                                     "with answers); with --tfds_name a split of the year's "
                                     "golden questions (test_batch_1..5, test).")
    n_best_size: int = option(20, "Answers per question in nbest_predictions.json.", minimum=1)
    max_answer_length: int = option(30, "Longest answer, in pieces.", minimum=1)
    balance_classes: bool = option(
        True, "yesno: weight the loss of each answer by the inverse of its share of the "
        "training pairs, so that the rare 'no' counts as much as 'yes'.")
    list_threshold: float = option(
        0.5, "List answers: keep those with at least this share of the best answer's merged "
        "probability (tuned when --dev_file is a golden file).")
    do_eval: bool = option(False, "Score --dev_file (dev_metrics.json, dev_results.txt).")
    do_predict: bool = option(False, "Predict --predict_file and score it (qa_metrics.json, "
                              "eval_results.txt, BioASQ's answer file).")
    predict_text: str | None = option(None, "Not for QA (a question needs its context): use "
                                      "the SavedModel of --export_dir.")


def describe(sources: Sequence[Source]) -> str:
    """Sources as the flags name them, comma-separated."""
    return ",".join(map(str, sources))


def read_examples(sources: Sequence[Source], question_type: str,
                  training_data: bool) -> list[QaExample]:
    """Examples of SQuAD-format or BioASQ golden sources. From golden questions: span
    examples of `question_type` questions for training, else every (question, snippet) pair
    (yes/no pairs labelled when the source has the answers). Training keeps the answered
    questions. A question in two of the sources is an error."""
    examples, first_source = [], {}
    for source in sources:
        found = _read_source(source, question_type, training_data)
        for qid in {qa_data.question_id(x.id) for x in found}:
            if first_source.setdefault(qid, source) != source:
                raise ValueError(f"{source}: question {qid} is also in {first_source[qid]}")
        examples += found
    if training_data:
        def has_answer(x):
            return x.label if question_type == "yesno" else x.answers

        answered = [x for x in examples if has_answer(x)]
        if len(answered) < len(examples):
            first = next(x for x in examples if not has_answer(x))
            logging.warning("%d training examples without an answer are left out (the first: "
                            "%s, id %s)", len(examples) - len(answered), first.where, first.id)
        examples = answered
    if not examples:
        raise ValueError(f"{describe(sources)}: no {question_type} examples" +
                         (" with an answer" if training_data else ""))
    return examples


def is_golden(source: Source) -> bool:
    """Whether a source holds BioASQ golden questions (else SQuAD-format examples)."""
    if isinstance(source, tfds_source.Split):
        return qa_tfds.is_golden(source.name)
    return qa_data.is_golden(source)


def golden_questions(source: Source) -> list[GoldenQuestion]:
    """The questions of a golden source."""
    if isinstance(source, tfds_source.Split):
        return qa_tfds.golden_questions(tfds_source.load_split(source)[0])
    return qa_data.read_golden(source)


def _read_source(source: Source, question_type: str, training_data: bool) -> list[QaExample]:
    if not is_golden(source):
        if question_type == "yesno":
            raise ValueError(f"{source}: yes/no questions come from BioASQ golden files "
                             "(their snippets and exact answers), not SQuAD files")
        if isinstance(source, tfds_source.Split):
            return qa_tfds.qa_examples(tfds_source.load_split(source)[0])
        return qa_data.read_squad(source)
    questions = golden_questions(source)
    if not training_data or question_type == "yesno":
        return qa_data.pair_examples(questions, (question_type,))
    found, report = qa_data.span_examples(questions, (question_type,))
    logging.info("%s: %s questions: %d of %d answered ones have an answer in a snippet; "
                 "%d of %d snippets hold one; %d examples", source, question_type,
                 report.get("questions_with_example", 0), report.get("questions", 0),
                 report.get("snippets_with_answer", 0), report.get("snippets", 0), len(found))
    return found


class QaTask(Task):
    """What the span and yes/no tasks share: the QA files, the gold they are scored against,
    the dev score (`score`) and the score files. QA derives nothing from its training data
    that defines the model (its settings are in task.json): its spec records what trained it."""

    settings_class = QaSettings
    # Defaults for later runs on the run directory (not --predict_file: it goes with
    # --golden_file, and each prediction names its own).
    data_settings = (*DATA_SOURCE, "train_file", "dev_file")
    tfds_builder = "biobert_qa"
    spec_file = SPEC_FILE
    main_score = "score"
    predicts_text = False

    # ---- data --------------------------------------------------------------------------
    def sources(self, names: str, golden: bool = False) -> tuple[Source, ...]:
        """Comma-separated names: files (relative ones in --data_dir), or with --tfds_name
        splits of its data set (`golden`: of the year's golden questions)."""
        s = self.settings
        if not s.tfds_name:
            return tuple(os.path.join(s.data_dir or "", name) for name in names.split(","))
        dataset = qa_tfds.golden_name(s.tfds_name) if golden else s.tfds_name
        return tuple(tfds_source.Split(dataset, name, s.tfds_data_dir, s.tfds_manual_dir)
                     for name in names.split(","))

    def data_files(self) -> dict[str, tuple[Source, ...]]:
        s = self.settings
        if s.do_train and not s.train_file:
            raise ValueError("--do_train needs --train_file")
        if s.do_predict and not s.predict_file:
            raise ValueError("--do_predict needs --predict_file")
        scores_dev = s.do_eval or self.early_stopping
        if scores_dev and not s.dev_file:
            raise ValueError("--do_eval and --early_stopping_patience need --dev_file")
        uses_dev = scores_dev or (s.do_predict and s.question_type == "list")  # its threshold
        named = {"train": s.train_file if s.do_train else None,
                 "dev": s.dev_file if uses_dev else None,
                 "test": s.predict_file if s.do_predict else None}
        return {split: self.sources(files) for split, files in named.items() if files}

    def read_file(self, path: str) -> list[QaExample]:
        return self.read_source((path,))

    def read_source(self, sources: Sequence[Source]) -> list[QaExample]:
        """The examples of a split's sources (`data_files`)."""
        return read_examples(sources, self.settings.question_type, training_data=False)

    def examples(self, split: str) -> list[QaExample]:
        """The examples of a split; a golden training file gives span examples instead of
        the (question, snippet) pairs of the other splits."""
        return self.training_examples if split == "train" else super().examples(split)

    @functools.cached_property
    def training_examples(self) -> list[QaExample]:
        return read_examples(self.data_files()["train"], self.settings.question_type,
                             training_data=True)

    def golden_source(self, split: str) -> Source | None:
        """The BioASQ golden questions a split is scored against: a golden --dev_file; for
        the test split --golden_file, else a golden --predict_file."""
        files = self.data_files()
        if split not in files:
            return None
        if split == "test" and self.settings.golden_file:
            golden = self.sources(self.settings.golden_file, golden=True)
            if len(golden) > 1:
                raise ValueError(f"--golden_file={self.settings.golden_file}: one golden file "
                                 "scores the predictions")
            return golden[0]
        sources = files[split]
        return sources[0] if len(sources) == 1 and is_golden(sources[0]) else None

    @functools.cached_property
    def bioasq_gold(self) -> dict[str, dict]:
        """{split: {question id: gold}} for the splits with a golden file that has answers
        (a golden test file without them is predicted, not scored; --golden_file must have
        them)."""
        gold, kind = {}, self.settings.question_type
        for split in ("dev", "test"):
            source = self.golden_source(split)
            answers = (bioasq.golden_answers(golden_questions(source), kind, str(source))
                       if source else None)
            if answers:
                gold[split] = answers
            elif source and (split == "dev" or self.settings.golden_file):
                raise ValueError(f"{source}: no {kind} question has an exact_answer to score")
            elif source:
                logging.info("%s has no %s answers: its predictions are not scored", source,
                             kind)
        return gold

    def validate(self) -> None:
        """Also the golden files, and that the dev set can be scored."""
        if self.settings.predict_text:
            raise ValueError("--predict_text: a QA model needs a question and its context; "
                             "use the SavedModel of --export_dir")
        super().validate()
        files = self.data_files()
        if "dev" in files and "dev" not in self.bioasq_gold and not any(
                x.answers for x in self.examples("dev")):
            raise ValueError(f"{describe(files['dev'])}: --dev_file has no answers to score "
                             "(a SQuAD file with answers or a BioASQ golden file)")
        if "train" in files:
            self._warn_of_shared_questions(files)

    def _warn_of_shared_questions(self, files: dict[str, tuple[Source, ...]]) -> None:
        """Scores of questions that were trained on are not held-out scores: say so."""
        trained = {qa_data.question_id(x.id) for x in self.examples("train")}
        for split in ("dev", "test"):
            if split in files:
                asked = {qa_data.question_id(x.id) for x in self.examples(split)}
                shared = trained & asked
                if shared:
                    logging.warning("%d of the %d questions of %s are also in the training "
                                    "data (e.g. %s): their scores are not held out",
                                    len(shared), len(asked), describe(files[split]),
                                    min(shared))

    # ---- spec --------------------------------------------------------------------------
    def derive_spec(self) -> dict:
        return {"question_type": self.settings.question_type,
                "train_file": describe(self.data_files()["train"]),
                "training_examples": len(self.examples("train"))}

    def load_spec(self, path: str) -> dict:
        spec = json_files.load(path)
        spec.field("question_type").string()
        spec.field("train_file").string()
        spec.field("training_examples").integer(minimum=0)
        return spec.value

    def save_spec(self, spec: dict, path: str) -> None:
        atomic_files.write_text(path, json.dumps(spec, indent=1, ensure_ascii=False))

    # ---- scores and results ------------------------------------------------------------
    def batch_size(self, split: str) -> int:
        s = self.settings
        return s.predict_batch_size if split == "test" else s.eval_batch_size

    def scored(self, split: str, result: dict, answers: dict) -> dict:
        """`result` with the BioASQ `answers` per question, their `bioasq` scores against the
        split's golden file, and the split's main score (`score`, see the module docstring)."""
        kind = self.settings.question_type
        result["answers"] = answers
        gold = self.bioasq_gold.get(split)
        if gold is not None:
            result["bioasq"] = bioasq.scores(kind, gold, answers)
            result[self.main_score] = result["bioasq"][bioasq.MAIN_MEASURE[kind]]
        elif "squad" in result:
            result[self.main_score] = result["squad"]["f1"]
        return result

    def write_results(self, split: str, result: dict) -> None:
        """The scores (dev: dev_metrics.json and dev_results.txt; test: qa_metrics.json and
        eval_results.txt, as before) and, for BioASQ test questions, the submission file
        (BioBERT's name), whether or not their answers are known."""
        if split == "test" and bioasq.is_bioasq([x.id for x in self.examples(split)]):
            bioasq.write_answers(self.result_path(bioasq.ANSWER_FILE),
                                 self.settings.question_type, result["answers"])
        scores = {group: result[group] for group in SCORE_GROUPS if group in result}
        if not scores:
            return
        metrics, report = (("qa_metrics.json", "eval_results.txt") if split == "test"
                           else ("dev_metrics.json", "dev_results.txt"))
        atomic_files.write_text(self.result_path(metrics), json.dumps(scores, indent=1))
        training.write_results(self.result_path(report),
                               {f"{group}_{k}": v for group, values in scores.items()
                                for k, v in values.items()})


class SpanQaTask(QaTask):
    """Span extraction (SQuAD, BioASQ factoid and list): Google's run_squad model."""

    name = "qa"
    model_settings = ("do_lower_case", "max_seq_length", "doc_stride", "max_query_length",
                      "question_type")
    model_inputs = MODEL_INPUTS
    label_features = ("start_positions", "end_positions")
    sequence_outputs = ("start_logits", "end_logits")

    @functools.cached_property
    def qa_encoder(self) -> QaEncoder:
        s = self.settings
        return QaEncoder(self.tokenizer, s.max_seq_length, s.doc_stride, s.max_query_length)

    def validate(self) -> None:
        """Also the window settings (an error names them)."""
        super().validate()
        self.qa_encoder  # noqa: B018

    # ---- features and model ------------------------------------------------------------
    def encode(self, examples: Sequence[QaExample]) -> dict[str, np.ndarray]:
        """Windows of every example (`example` indexes `examples`), labelled by the first
        gold answer where there is one."""
        parts = []
        for i in range(0, len(examples), ENCODE_BATCH):
            batch = examples[i:i + ENCODE_BATCH]
            starts = [x.answers[0].start if x.answers else -1 for x in batch]
            ends = [x.answers[0].end if x.answers else -1 for x in batch]
            out = {k: v.numpy() for k, v in self.qa_encoder(
                tf.constant([x.question for x in batch]), tf.constant([x.context for x in batch]),
                tf.constant(starts, tf.int32), tf.constant(ends, tf.int32)).items()}
            out["example"] += i
            parts.append(out)
        features = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        if any(x.answers for x in examples):
            logging.info("%d questions → %d windows (%d hold their answer)", len(examples),
                         len(features["example"]), int((features["start_positions"] > 0).sum()))
        return features

    def make_model(self) -> QaModel:
        return QaModel(BertEncoder.from_bert_config(self.bert_config))

    def make_objective(self, model: QaModel) -> SpanObjective:
        return SpanObjective(model)

    # ---- predictions and scores --------------------------------------------------------
    def nbest(self, trainer: training.Trainer, split: str) -> dict[str, list[dict]]:
        """Google's n-best list per question id: distinct answer texts, best first, each
        with its `probability` (softmax over the list), logits and character offsets."""
        s, examples, features = self.settings, self.examples(split), self.features(split)
        logits = self.predict(trainer, features, self.batch_size(split))
        result = {}
        for first in range(0, len(examples), DECODE_BATCH):
            rows = np.flatnonzero((features["example"] >= first) &
                                  (features["example"] < first + DECODE_BATCH))
            chunk = examples[first:first + DECODE_BATCH]
            windows = {k: tf.constant(features[k][rows]) for k in SPAN_INPUTS}
            windows["example"] = tf.constant(features["example"][rows] - first)
            spans = _decode_spans(tf.constant(logits["start_logits"][rows]),
                           tf.constant(logits["end_logits"][rows]), windows,
                           tf.constant(len(chunk)), 2 * s.n_best_size, s.max_answer_length)
            spans = {k: v.to_list() for k, v in spans.items()}
            for row, example in enumerate(chunk):
                result[example.id] = _distinct_best(example.context,
                                                    {k: v[row] for k, v in spans.items()},
                                                    s.n_best_size)
        return result

    def evaluate(self, trainer: training.Trainer, split: str) -> dict:
        """The n-best lists (`nbest`) and best answers (`predictions`), SQuAD EM/F1 when the
        examples have answers, and the merged BioASQ answers with their scores (list
        questions: at the threshold tuned on a golden dev file, else --list_threshold)."""
        s = self.settings
        nbest = self.nbest(trainer, split)
        best = {qid: answers[0]["text"] for qid, answers in nbest.items()}
        result = {"nbest": nbest, "predictions": best}
        gold = {x.id: [a.text for a in x.answers] for x in self.examples(split) if x.answers}
        if gold:
            result["squad"] = qa_metrics.squad_scores(gold, best)
        merged = bioasq.merge_per_question(nbest)
        if s.question_type == "factoid":
            return self.scored(split, result, bioasq.factoid_answers(merged))
        threshold = s.list_threshold
        if "dev" in self.bioasq_gold:
            dev = merged if split == "dev" else bioasq.merge_per_question(
                self.nbest(trainer, "dev"))
            threshold, dev_f1 = bioasq.tune_list_threshold(dev, self.bioasq_gold["dev"])
            result["list_threshold"] = {"threshold": threshold, "dev_f1": dev_f1}
            logging.info("list threshold %.2f (dev mean F1 %.4f)", threshold, dev_f1)
        return self.scored(split, result, bioasq.list_answers(merged, threshold))

    def write_results(self, split: str, result: dict) -> None:
        """Also Google's predictions.json and nbest_predictions.json for the test split
        (every question id of the predict file)."""
        if split == "test":
            for name, key in (("nbest_predictions.json", "nbest"),
                              ("predictions.json", "predictions")):
                atomic_files.write_text(self.result_path(name), json.dumps(
                    result[key], indent=1, ensure_ascii=False))
        super().write_results(split, result)

    def serving_module(self) -> QaAnswerer:
        """Raw (question, context) strings in → answer spans out."""
        s = self.settings
        return QaAnswerer(self.model, self.qa_encoder, s.n_best_size, s.max_answer_length,
                          jit_compile=distribute.xla_in_serving(self.xla_default))


def _distinct_best(context: str, spans: dict[str, list], n_best: int) -> list[dict]:
    best, seen = [], set()
    for start, end, score, start_logit, end_logit in zip(
            spans["start"], spans["end"], spans["score"], spans["start_logit"],
            spans["end_logit"]):
        text = answer_text(context, start, end)
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
