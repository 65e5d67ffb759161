"""Sentence (pair) classification: the cross-entropy objective shared by every classifier, and
BioBERT's plain `[CLS]` classifier.

`ClassificationObjective` trains any model that maps a batch to label scores [batch, labels]
against `label_id` (relation extraction, BioASQ yes/no). `PairClassifier` is BioBERT's
classifier for one or two segments: the pooled `[CLS]` output → dropout → linear.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from biobert_tf.bert.modeling import BertEncoder

ENCODER_INPUTS = ("token_ids", "segment_ids", "padding_mask")


class ClassificationObjective:
    """Cross-entropy over the global batch, each example's weighted by its label's entry of
    `class_weights` when given (rare classes count more); metric: accuracy. `predict` gives
    probabilities."""

    metric_names = ("accuracy",)

    def __init__(self, model: keras.Model, class_weights: Sequence[float] | None = None):
        self.model = model
        self.class_weights = None if class_weights is None else tf.constant(class_weights,
                                                                            tf.float32)

    def loss_counts(self, batch: dict) -> dict[str, tf.Tensor]:
        return {"examples": tf.shape(batch["label_id"])[0]}

    def compute(self, batch: dict, counts: dict[str, tf.Tensor], training: bool):
        scores = self.model(batch, training=training)
        labels = batch["label_id"]
        xent = keras.losses.sparse_categorical_crossentropy(labels, scores, from_logits=True)
        if self.class_weights is not None:
            xent *= tf.gather(self.class_weights, labels)
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        correct = tf.cast(tf.equal(tf.argmax(scores, -1, output_type=labels.dtype), labels),
                          tf.float32)
        return (tf.reduce_sum(xent) / counts["examples"],
                {"accuracy": (tf.reduce_sum(correct), count)})

    def predict(self, batch: dict) -> dict[str, tf.Tensor]:
        return {"probabilities": tf.nn.softmax(self.model(batch, training=False))}


class PairClassifier(keras.Model):
    """Encoder → pooled [CLS] → dropout → linear: label scores [batch, labels], float32."""

    def __init__(self, encoder: BertEncoder, num_labels: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.classifier = keras.layers.Dense(
            num_labels, name="output", dtype="float32",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        pooled = self.encoder({k: inputs[k] for k in ENCODER_INPUTS},
                              training=training)["pooled_output"]
        return self.classifier(self.dropout(pooled, training=training))
