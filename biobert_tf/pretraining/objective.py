"""The masked-LM + next-sentence pretraining objective (Google BERT's losses and metrics).

MLM loss = Σ(weight · cross-entropy) / (Σ weight + 1e-5) over the masked positions
of the global batch; NSP loss = mean cross-entropy; total = MLM + NSP. Logits are
cast to float32 before the softmax, as Google does under bfloat16.
"""

from __future__ import annotations

import tensorflow as tf

from biobert_tf.bert.modeling import BertPretrainer
from biobert_tf.pretraining.data import model_inputs

METRICS = ("masked_lm_loss", "masked_lm_accuracy", "next_sentence_loss", "next_sentence_accuracy")


class PretrainingObjective:
    """`training.Objective` of a `BertPretrainer` on batches from `data.make_dataset`."""

    metric_names = METRICS

    def __init__(self, model: BertPretrainer):
        self.model = model

    def loss_counts(self, batch: dict) -> dict[str, tf.Tensor]:
        return {"masked": tf.reduce_sum(batch["masked_lm_weights"]),
                "examples": tf.shape(batch["next_sentence_labels"])[0]}

    def compute(self, batch: dict, counts: dict[str, tf.Tensor], training: bool):
        outputs = self.model(model_inputs(batch), training=training)
        mlm_logits = tf.cast(outputs["mlm_logits"], tf.float32)
        nsp_logits = tf.cast(outputs["nsp_logits"], tf.float32)
        weights = batch["masked_lm_weights"]
        labels = batch["masked_lm_ids"]
        nsp_labels = batch["next_sentence_labels"][:, 0]

        mlm_xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, mlm_logits)
        mlm_sum = tf.reduce_sum(weights * mlm_xent)
        mlm_weight = tf.reduce_sum(weights)
        nsp_xent = tf.nn.sparse_softmax_cross_entropy_with_logits(nsp_labels, nsp_logits)
        examples = tf.cast(tf.shape(nsp_labels)[0], tf.float32)
        # This replica's share of the global-batch losses.
        loss = (mlm_sum / (counts["masked"] + 1e-5)
                + tf.reduce_sum(nsp_xent) / counts["examples"])

        mlm_correct = tf.cast(tf.equal(tf.argmax(mlm_logits, -1, output_type=labels.dtype), labels),
                              tf.float32)
        nsp_correct = tf.cast(tf.equal(tf.argmax(nsp_logits, -1, output_type=nsp_labels.dtype),
                                       nsp_labels), tf.float32)
        return loss, {
            "masked_lm_loss": (mlm_sum, mlm_weight),
            "masked_lm_accuracy": (tf.reduce_sum(weights * mlm_correct), mlm_weight),
            "next_sentence_loss": (tf.reduce_sum(nsp_xent), examples),
            "next_sentence_accuracy": (tf.reduce_sum(nsp_correct), examples),
        }
