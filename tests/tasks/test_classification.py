"""The classification objective: class weights scale each example's cross-entropy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.engine.training import global_counts
from biobert_tf.tasks.classification import ClassificationObjective


class FixedScores(keras.Model):
    def __init__(self, scores):
        super().__init__()
        self.scores = tf.constant(scores, tf.float32)

    def call(self, inputs, training=False):
        return self.scores


def test_class_weights_scale_each_examples_loss():
    scores = np.array([[2.0, -1.0], [0.5, 0.5], [-1.0, 3.0]], np.float32)
    labels = np.array([0, 1, 1], np.int32)
    xent = -np.log(np.exp(scores) / np.exp(scores).sum(1, keepdims=True))[range(3), labels]
    batch = {"label_id": tf.constant(labels)}
    plain_objective = ClassificationObjective(FixedScores(scores))
    weighted_objective = ClassificationObjective(FixedScores(scores), [3.0, 0.5])
    plain, metrics = plain_objective.compute(batch, global_counts(plain_objective, batch), False)
    weighted, _ = weighted_objective.compute(batch, global_counts(weighted_objective, batch), False)
    assert float(plain) == pytest.approx(xent.mean(), rel=1e-6)
    assert float(weighted) == pytest.approx((xent * [3.0, 0.5, 0.5]).mean(), rel=1e-6)
    assert [float(v) for v in metrics["accuracy"]] == [2.0, 3.0]
