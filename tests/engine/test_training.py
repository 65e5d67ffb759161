"""The training loop: progress lines, host calls that leave the numbers unchanged, a resume
that gives the same weights as an uninterrupted run (dropout included), a diverging run that
keeps a good checkpoint to resume from, and no leftovers of interrupted saves."""

import logging
import math
import re
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import logging as absl_logging

from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine import progress, training
from biobert_tf.engine.optimization import create_optimizer, learning_rate_schedule

BATCH = 4


class LinearObjective:
    """Least squares on a fixed random problem, with a mean absolute error metric."""

    metric_names = ("abs_error",)

    def __init__(self):
        self.model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    def loss_counts(self, batch):
        return {}

    def compute(self, batch, counts, training):
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


class BlowUp(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule`'s learning rate until optimizer step `at`, then `rate`: a diverging run."""

    def __init__(self, schedule, at, rate):
        self.schedule, self.at, self.rate = schedule, at, rate

    def __call__(self, step):
        return tf.where(step >= self.at, self.rate, self.schedule(step))


def fit(output_dir, num_steps, iterations_per_loop=1000, save_checkpoints_steps=1000,
        warmup_steps=0, blow_up_at=None, rate=1e3):
    """A fit as a new process would run it (new model, optimizer and loop), whose learning rate
    jumps to `rate` from step `blow_up_at` on if that is given."""
    keras.utils.set_random_seed(1)
    objective = LinearObjective()
    optimizer = create_optimizer(0.1, num_steps, warmup_steps, aggregate_gradients=False)
    if blow_up_at is not None:
        optimizer.learning_rate = BlowUp(learning_rate_schedule(0.1, num_steps, warmup_steps),
                                         blow_up_at, rate)
    trainer = training.Trainer(tf.distribute.get_strategy(), objective, optimizer,
                               training.LoopConfig(str(output_dir), num_steps, iterations_per_loop,
                                                   save_checkpoints_steps, global_batch_size=BATCH))
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
    """A tiny BERT (dropout 0.1 by default) regressing its first feature on a target: the loss
    and the error metric normalised by the whole batch's target count, as real objectives do
    (what accumulated micro-batches need)."""

    metric_names = ("abs_error",)

    def __init__(self, dropout=0.1):
        self.model = BertEncoder.from_bert_config(BertConfig(
            vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=16, max_position_embeddings=SEQ, hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout))

    def loss_counts(self, batch):
        return {"targets": tf.size(batch["y"])}

    def compute(self, batch, counts, training):
        features = self.model(batch["inputs"], training=training)["sequence_output"]
        error = features[:, :, 0] - batch["y"]
        return (tf.reduce_sum(tf.square(error)) / counts["targets"],
                {"abs_error": (tf.reduce_sum(tf.abs(error)), tf.size(error))})


def bert_dataset(context=None, start_step=0):
    rng = np.random.default_rng(0)
    inputs = {"token_ids": rng.integers(0, 20, (32, SEQ)).astype(np.int32),
              "segment_ids": np.zeros((32, SEQ), np.int32),
              "padding_mask": np.ones((32, SEQ), bool)}
    data = {"inputs": inputs, "y": rng.normal(size=(32, SEQ)).astype(np.float32)}
    return tf.data.Dataset.from_tensor_slices(data).repeat().batch(BATCH).skip(start_step)


def fit_bert(output_dir, num_steps, jit_compile=False, dropout=0.1,
             gradient_accumulation_steps=1):
    """A fit from scratch, as a new process would run it: new model, optimizer and loop."""
    keras.utils.set_random_seed(1)
    objective = TinyBertObjective(dropout)
    trainer = training.Trainer(tf.distribute.get_strategy(), objective,
                               create_optimizer(1e-2, num_steps, 0, aggregate_gradients=False),
                               training.LoopConfig(str(output_dir), num_steps, 1,
                                                   save_checkpoints_steps=2,
                                                   global_batch_size=BATCH,
                                                   jit_compile=jit_compile,
                                                   gradient_accumulation_steps=(
                                                       gradient_accumulation_steps)))
    trainer.fit(bert_dataset)
    return objective.model


def test_a_larger_num_train_steps_continues_from_the_last_checkpoint(lines, tmp_path):
    fit(tmp_path, 6)
    assert fit(tmp_path, 8, save_checkpoints_steps=2).step == 8
    assert [line.split("  ")[0] for line in lines() if line.startswith(("restored", "step "))] == [
        "step 6/6", f"restored step 6 from {tmp_path}/ckpt-6", "step 8/8"]


# XLA draws other dropout masks than TensorFlow's kernels (its stateless random algorithm
# differs), so a compiled run is resumed exactly by a compiled run. With accumulation, every
# micro-batch draws its own masks. The plain eager step's exact resume after kill -9 is
# tests/pretraining/test_pretraining.py's (and, mirrored, tests/engine/test_resume_after_kill.py's).
@pytest.mark.parametrize("jit_compile, accumulation", [(True, 1), (False, 2)],
                         ids=["xla", "eager-accumulated"])
def test_resuming_with_dropout_gives_the_weights_of_an_uninterrupted_run(tmp_path, jit_compile,
                                                                         accumulation):
    def run(name):
        return fit_bert(tmp_path / name, 4, jit_compile=jit_compile,
                        gradient_accumulation_steps=accumulation)

    straight = run("straight")
    # What a run killed right after its step-2 checkpoint leaves: that checkpoint (the dropout
    # masks' random state is in no checkpoint). Copied, rather than trained again.
    killed = tmp_path / "killed"
    killed.mkdir()
    for path in (tmp_path / "straight").glob("ckpt-2.*"):
        shutil.copy(path, killed)
    tf.compat.v1.train.update_checkpoint_state(str(killed), str(killed / "ckpt-2"))
    resumed = run("killed")
    for a, b in zip(straight.weights, resumed.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


# ---- gradient accumulation ----------------------------------------------------------------
# Eager: XLA-compiled micro-batches (mirrored) equal the eager whole batch in
# tests/pretraining/test_pretraining.py::test_mirrored_two_cpus_and_xla_equal_one_device.
def test_accumulated_micro_batches_update_as_their_whole_batch(lines, tmp_path):
    keras.utils.set_random_seed(1)  # the weights fit_bert starts from
    initial = [w.numpy() for w in TinyBertObjective().model.weights]
    whole = fit_bert(tmp_path / "whole", 3, dropout=0.0)
    # Micro-batches of one row: the weights the loss does not reach (the pooler) stay out.
    micro = fit_bert(tmp_path / "micro", 3, dropout=0.0, gradient_accumulation_steps=BATCH)
    # ~1e-6: micro-batches sum their products in another order (oneDNN's kernels pick theirs
    # by shape), and Adam's m/√v turns the rounding of a gradient near zero into up to a few
    # 1e-6 of weight (2.3e-6 seen); the 3 steps move the weights by over 1e-2 (below).
    for a, b, start in zip(whole.weights, micro.weights, initial, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=5e-6, err_msg=a.path)
    assert max(np.abs(w.numpy() - start).max() for w, start in zip(whole.weights, initial)) > 1e-2
    # The loss and metric sums of the micro-batches add up to the whole batch's.
    logged = [[float(v) for v in re.findall(r"(?:loss|abs_error) (\S+)", line)]
              for line in lines() if line.startswith("step ")]
    assert len(logged) == 6 and len(logged[0]) == 2
    np.testing.assert_allclose(logged[:3], logged[3:], rtol=1e-4)


def test_a_batch_that_cannot_be_cut_into_equal_micro_batches_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"^--train_batch_size=4 over 1 replica\(s\) gives 4 "
                       r"examples per replica: they cannot be cut into "
                       r"--gradient_accumulation_steps=3 equal micro-batches$"):
        fit_bert(tmp_path, 2, gradient_accumulation_steps=3)


# ---- divergence ---------------------------------------------------------------------------
def fit_to_12(output_dir, blow_up_at=None, rate=1e3, iterations_per_loop=1):
    """12 steps logged every step (by default) and saved every 2nd."""
    return fit(output_dir, 12, iterations_per_loop, 2, blow_up_at=blow_up_at, rate=rate)


def test_an_exploding_loss_stops_before_nan_and_a_rerun_resumes_from_the_last_good_checkpoint(
        tmp_path, monkeypatch):
    # As before the weight check: the blown-up weights of step 8 are saved, and only the loss
    # after them (step 9) shows it.
    monkeypatch.setattr(training, "WEIGHT_GROWTH_LIMIT", math.inf)
    normal = fit_to_12(tmp_path / "normal")
    run = tmp_path / "run"
    with pytest.raises(training.TrainingDivergedError) as diverged:
        fit_to_12(run, blow_up_at=7)  # the update of step 8 blows the weights up
    message = str(diverged.value)
    assert re.search(r"loss is \S+ at step 9, over 10 times the highest loss before it", message)
    assert "nan" not in message and "ckpt-8 was saved before the loss after it was seen" in message
    assert message.endswith(f"Rerun with a lower --learning_rate to resume from {run}/ckpt-6, "
                            "or check the data")
    assert tf.train.latest_checkpoint(str(run)) == f"{run}/ckpt-6"
    assert len(list((run / training.DIVERGED_DIR).glob("ckpt-8-*/ckpt-8.index"))) == 1
    kept = tf.train.load_checkpoint(f"{run}/ckpt-6")
    before = tf.train.load_checkpoint(f"{tmp_path}/normal/ckpt-6")
    for name, _ in tf.train.list_variables(f"{run}/ckpt-6"):
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH":  # model, optimizer slots and step
            assert np.all(np.isfinite(kept.get_tensor(name))), name
            np.testing.assert_array_equal(kept.get_tensor(name), before.get_tensor(name), name)

    # Still too high a rate: its first interval goes NaN. ckpt-6 is known good (ckpt-8 was saved
    # after it), so it is kept.
    with pytest.raises(training.TrainingDivergedError, match=r"loss is (nan|inf) at step 8\. "
                       rf"Rerun with a lower --learning_rate to resume from {run}/ckpt-6,"):
        fit_to_12(run, blow_up_at=6, rate=1e30, iterations_per_loop=2)

    resumed = fit_to_12(run)  # the same command with the first, lower rate
    for a, b in zip(normal.objective.model.weights, resumed.objective.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_blown_up_weights_are_not_saved_and_an_unseen_checkpoint_is_moved_aside(tmp_path):
    with pytest.raises(training.TrainingDivergedError,
                       match=r"the weights' global norm is \S+ at step 8 \(\S+ when this run "
                             rf"started\)\. Rerun with a lower --learning_rate to resume from "
                             rf"{tmp_path}/ckpt-6,"):
        fit_to_12(tmp_path, blow_up_at=7, rate=1e4)
    assert not list(tmp_path.glob("ckpt-8*")) and not (tmp_path / training.DIVERGED_DIR).exists()
    # A new process resuming from ckpt-6 (as if killed right after saving it) cannot tell its
    # weights are good when its first interval goes NaN: ckpt-4 is kept.
    with pytest.raises(training.TrainingDivergedError, match=r"loss is (nan|inf) at step 8\. "
                       "ckpt-6 was saved before the loss after it was seen: moved to .*resume "
                       rf"from {tmp_path}/ckpt-4,"):
        fit_to_12(tmp_path, blow_up_at=6, rate=1e30, iterations_per_loop=2)


@pytest.mark.parametrize("warmup_steps", [0, 10])
def test_normal_runs_never_look_diverged(tmp_path, warmup_steps):
    # Every step logged (the tiny BERT runs above, with dropout, are normal runs too).
    assert fit(tmp_path, 40, 1, 5, warmup_steps).step == 40


def test_the_loss_watch_allows_warmup_and_noise_and_stops_an_explosion():
    def first_problem(losses):
        watch = training.LossWatch()
        return next((step for step, loss in enumerate(losses, 1) if watch.problem(loss, step)),
                    None)

    # The warmup of test_normal_runs_never_look_diverged[10], and noisy batches late in a run.
    assert first_problem([0.609, 6.558, 0.842, 14.422, 8.982, 4.38]) is None
    assert first_problem([2.3, 1.2, 0.4, 0.01, 0.002, 0.9, 0.001, 5.0]) is None
    assert first_problem([1.2, 50]) is None  # too early to tell
    assert first_problem([1.22, 1.20, 54.39]) == 3  # a tiny run_ner.py at --learning_rate=3
    assert first_problem([2.3, math.inf]) == 2 and first_problem([math.nan]) == 1


def test_a_fit_removes_what_interrupted_checkpoint_saves_left_and_nothing_else(tmp_path):
    leftovers = ["ckpt-3_temp/part-00000-of-00001.data-00000-of-00001.tempstate1234",
                 "ckpt-3.index.tempstate5678", "checkpoint.tmp" + "0a" * 16,
                 "best/model_temp/part-00000-of-00001.index"]
    kept = ["notes_temp/a.txt", "ckpt-3_temp.txt", "checkpoint.tmp", "best/my_model_temp"]
    for name in leftovers + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    fit(tmp_path, 1)
    assert not any((tmp_path / name.split("/part-")[0]).exists() for name in leftovers)
    assert all((tmp_path / name).exists() for name in kept)
    assert tf.train.latest_checkpoint(str(tmp_path)) == f"{tmp_path}/ckpt-1"


def test_results_are_written_whole_in_googles_format(tmp_path):
    path = tmp_path / "eval_results.txt"
    path.write_text("old")
    training.write_results(str(path), {"loss": 0.5, "global_step": 3, "accuracy": 1.0})
    assert path.read_text() == "accuracy = 1.0\nglobal_step = 3\nloss = 0.5\n"
    assert [p.name for p in tmp_path.iterdir()] == ["eval_results.txt"]


@pytest.mark.parametrize("jit_compile", [None, True, False])
def test_nojit_compile_means_no_xla_anywhere_in_training(tmp_path, jit_compile):
    from biobert_tf.engine.settings import LoopSettings

    settings = LoopSettings(output_dir=str(tmp_path), jit_compile=jit_compile)
    trainer = training.trainer_for(settings, tf.distribute.get_strategy(), LinearObjective(),
                                   num_train_steps=10, warmup_steps=1)
    # The optimizer's update and the layers' GELU and LayerNorms are compiled on their own
    # unless the job said no XLA at all.
    assert trainer.optimizer.jit_compile == trainer.config.elementwise_xla == (
        jit_compile is not False)
