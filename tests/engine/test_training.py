"""The training loop: progress lines, host calls that leave the numbers unchanged, and a
resume that gives the same weights as an uninterrupted run, dropout included."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import logging as absl_logging

from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine import progress, training
from biobert_tf.engine.optimization import create_optimizer

BATCH = 4


class LinearObjective:
    """Least squares on a fixed random problem, with a mean absolute error metric."""

    metric_names = ("abs_error",)

    def __init__(self):
        self.model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    def compute(self, batch, training):
        error = self.model(batch["x"])[:, 0] - batch["y"]
        return (tf.reduce_mean(tf.square(error)),
                {"abs_error": (tf.reduce_sum(tf.abs(error)), float(BATCH))})

    def predict(self, batch):
        return {"y": self.model(batch["x"])[:, 0]}


def dataset(context=None, start_step=0):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    data = {"x": x, "y": x @ np.array([1.0, -2.0, 0.5], np.float32)}
    return tf.data.Dataset.from_tensor_slices(data).repeat().batch(BATCH).skip(start_step)


def fit(output_dir, num_steps, iterations_per_loop=1000):
    keras.utils.set_random_seed(1)
    objective = LinearObjective()
    trainer = training.Trainer(tf.distribute.get_strategy(), objective,
                               create_optimizer(0.1, num_steps, 0, aggregate_gradients=False),
                               training.LoopConfig(str(output_dir), num_steps, iterations_per_loop,
                                                   global_batch_size=BATCH))
    trainer.fit(dataset)
    return trainer


@pytest.fixture
def lines(caplog):
    """The absl INFO lines logged so far (a function: call it to read them)."""
    absl_logging.set_verbosity(absl_logging.INFO)
    caplog.set_level(logging.INFO, logger="absl")
    return lambda: [record.getMessage() for record in caplog.records]


def test_a_short_fit_reports_progress_before_its_only_metric_line(lines, monkeypatch, tmp_path):
    monkeypatch.setattr(training, "HOST_CALL_SECONDS", 0.0)  # one step per host call
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)  # a line after every call
    fit(tmp_path, 6)
    logged = [line for line in lines() if line.startswith(("training:", "step "))]
    assert [line.split("  ")[0].split(" in ")[0] for line in logged] == [
        "training: 1/6 steps (17%)", "training: 2/6 steps (33%)", "training: 3/6 steps (50%)",
        "training: 4/6 steps (67%)", "training: 5/6 steps (83%)", "training: 6/6 steps (100%)",
        "step 6/6", "training: 6/6 steps (100%)"]  # the metric line, then the final line


def test_host_calls_do_not_change_weights_or_metrics(lines, monkeypatch, tmp_path):
    monkeypatch.setattr(training, "HOST_CALL_SECONDS", 0.0)
    one_step_calls = fit(tmp_path / "cut", 12, iterations_per_loop=6)
    monkeypatch.setattr(training, "HOST_CALL_SECONDS", 1e9)  # after the first, one call each
    whole_calls = fit(tmp_path / "whole", 12, iterations_per_loop=6)
    for cut, whole in zip(one_step_calls.objective.model.weights,
                          whole_calls.objective.model.weights):
        np.testing.assert_array_equal(cut.numpy(), whole.numpy())
    metric_lines = [line.split("steps/s")[0].rsplit("  ", 1)[0] for line in lines()
                    if line.startswith("step ")]
    assert len(metric_lines) == 4 and metric_lines[:2] == metric_lines[2:]


def test_evaluation_and_prediction_report_their_batches(lines, tmp_path):
    trainer = fit(tmp_path, 1)
    finite = lambda context: dataset().take(3)  # noqa: E731
    assert trainer.evaluate(finite)["eval_steps"] == 3
    assert len(trainer.predict(finite)) == 3
    assert trainer.evaluate(dataset, max_steps=2)["eval_steps"] == 2  # an endless dataset
    final_lines = [line.split(" in ")[0] for line in lines()
                   if line.startswith(("evaluating", "predicting"))]
    assert final_lines == ["evaluating: 3/3 batches (100%)", "predicting: 3/3 batches (100%)",
                           "evaluating: 2/2 batches (100%)"]


SEQ = 6


class TinyBertObjective:
    """A tiny BERT with its default dropout (0.1) regressing its first feature on a target."""

    metric_names = ()

    def __init__(self):
        self.model = BertEncoder.from_bert_config(BertConfig(
            vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=16, max_position_embeddings=SEQ))

    def compute(self, batch, training):
        features = self.model(batch["inputs"], training=training)["sequence_output"]
        return tf.reduce_mean(tf.square(features[:, :, 0] - batch["y"])), {}


def bert_dataset(context=None, start_step=0):
    rng = np.random.default_rng(0)
    inputs = {"token_ids": rng.integers(0, 20, (32, SEQ)).astype(np.int32),
              "segment_ids": np.zeros((32, SEQ), np.int32),
              "padding_mask": np.ones((32, SEQ), bool)}
    data = {"inputs": inputs, "y": rng.normal(size=(32, SEQ)).astype(np.float32)}
    return tf.data.Dataset.from_tensor_slices(data).repeat().batch(BATCH).skip(start_step)


def fit_bert(output_dir, num_steps, stop_at=None):
    """A fit from scratch, as a new process would run it: new model, optimizer and loop."""
    keras.utils.set_random_seed(1)
    objective = TinyBertObjective()
    trainer = training.Trainer(tf.distribute.get_strategy(), objective,
                               create_optimizer(1e-2, num_steps, 0, aggregate_gradients=False),
                               training.LoopConfig(str(output_dir), num_steps, 1,
                                                   save_checkpoints_steps=2,
                                                   global_batch_size=BATCH))
    trainer.fit(bert_dataset, stop_at=stop_at)
    return objective.model


def test_resuming_with_dropout_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    straight = fit_bert(tmp_path / "straight", 4)
    fit_bert(tmp_path / "resumed", 4, stop_at=2)  # killed after the step-2 checkpoint
    resumed = fit_bert(tmp_path / "resumed", 4)
    for a, b in zip(straight.weights, resumed.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
