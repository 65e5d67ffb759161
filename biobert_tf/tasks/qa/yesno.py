"""BioASQ yes/no questions as a `Task`: BioBERT's `[CLS]` classifier over every (question,
snippet) pair of a golden file; a question is "yes" when its pairs' mean P(yes) is >= 0.5.
Data, scores and result files are the other QA task's (`qa.task.QaTask`).

"no" is rare in BioASQ's golden files (6 of 4B's 133 yes/no questions): unweighted, the
classifier learns to answer "yes" to everything. With --balance_classes (the default) each
class's loss is weighted by the inverse of its share of the training pairs, and the training
data should hold every golden file that is not evaluated (e.g. 4B plus 5B1-5B4 to score 5B5).
"""

from __future__ import annotations

import collections
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine import training
from biobert_tf.tasks.classification import ENCODER_INPUTS, ClassificationObjective, \
    PairClassifier
from biobert_tf.tasks.qa import data as qa_data
from biobert_tf.tasks.qa.data import QaExample
from biobert_tf.tasks.qa.model import YesNoAnswerer
from biobert_tf.tasks.qa.task import ENCODE_BATCH, QaTask, describe

LABELS = ("no", "yes")  # the classifier's outputs, in order


class YesNoTask(QaTask):
    """BioASQ yes/no: BioBERT's [CLS] classifier over (question, snippet) pairs."""

    name = "qa_yesno"
    model_settings = ("do_lower_case", "max_seq_length", "question_type")
    model_inputs = ENCODER_INPUTS
    label_features = ("label_id",)

    def encode(self, examples: Sequence[QaExample]) -> dict[str, np.ndarray]:
        """`[CLS] question [SEP] snippet [SEP]` rows and their `label_id`."""
        tok, seq_length, parts = self.tokenizer, self.settings.max_seq_length, []
        for i in range(0, len(examples), ENCODE_BATCH):
            batch = examples[i:i + ENCODE_BATCH]
            packed = tok.pack(tok.tokenize(tf.constant([x.question for x in batch])),
                              tok.tokenize(tf.constant([x.context for x in batch])), seq_length)
            parts.append({k: packed[k].numpy() for k in ENCODER_INPUTS + ("num_truncated",)})
        features = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        truncated = int((features.pop("num_truncated") > 0).sum())
        if truncated:
            logging.warning("%d of %d (question, snippet) pairs are longer than "
                            "max_seq_length=%d and were truncated", truncated, len(examples),
                            seq_length)
        features["label_id"] = np.array([LABELS.index(x.label) if x.label else 0
                                         for x in examples], np.int32)
        return features

    def make_model(self) -> PairClassifier:
        return PairClassifier(BertEncoder.from_bert_config(self.bert_config), len(LABELS),
                              self.bert_config.hidden_dropout_prob)

    def make_objective(self, model: PairClassifier) -> ClassificationObjective:
        """The cross-entropy, with balanced class weights when training with
        --balance_classes."""
        s = self.settings
        if not (s.do_train and s.balance_classes):
            return ClassificationObjective(model)
        return ClassificationObjective(model, balanced_weights(
            self.features("train")["label_id"], describe(self.data_files()["train"])))

    def evaluate(self, trainer: training.Trainer, split: str) -> dict:
        """'yes' or 'no' per question (the mean P(yes) of its pairs against 0.5) and their
        BioASQ scores."""
        probabilities = self.predict(trainer, self.features(split),
                                     self.batch_size(split))["probabilities"][:, 1]
        per_question = collections.defaultdict(list)
        for example, p in zip(self.examples(split), probabilities):
            per_question[qa_data.question_id(example.id)].append(float(p))
        answers = {qid: "yes" if np.mean(ps) >= 0.5 else "no"
                   for qid, ps in per_question.items()}
        return self.scored(split, {}, answers)

    def serving_module(self) -> YesNoAnswerer:
        """Raw (question, snippet) strings in → P(yes) out."""
        return YesNoAnswerer(self.model, self.tokenizer, self.settings.max_seq_length)


def balanced_weights(labels: np.ndarray, source: str) -> list[float]:
    """Per-label loss weights, the inverse of each label's share of the training pairs,
    scaled so that the mean weight over the pairs is 1; an error when a label is missing
    (no weight can teach an answer that is never shown)."""
    counts = np.bincount(labels, minlength=len(LABELS))
    missing = [label for label, n in zip(LABELS, counts) if n == 0]
    if missing:
        raise ValueError(f"{source}: no training pair is answered {missing[0]!r}: add the "
                         "golden files of other batches to --train_file")
    weights = len(labels) / (len(LABELS) * counts)
    logging.info("yes/no training pairs: %s; class weights %s",
                 ", ".join(f"{label} {n}" for label, n in zip(LABELS, counts)),
                 ", ".join(f"{label} {w:.3f}" for label, w in zip(LABELS, weights)))
    return weights.tolist()
