"""The one training loop of biobert-tf: pretraining and every fine-tuning task use it.

A custom loop, not `model.fit`: Keras 3's `fit` breaks under
MultiWorkerMirroredStrategy (keras-team/keras#20585), and a TPU wants many steps per
host call. Every `iterations_per_loop` steps (and at checkpoint steps) the host logs
the metrics and writes TensorBoard summaries; checkpoints are saved every
`save_checkpoints_steps`. The steps run in calls of the compiled `_train_steps`: a TPU
runs a whole interval per call, CPUs and GPUs calls of about HOST_CALL_SECONDS, so
that progress (see `progress`) shows between metric lines at no cost to the numbers.

A checkpoint holds the model and the optimizer (its step counter is the global
step). The input pipeline is deterministic and, on restart, skips the batches
already trained on, so a job killed at any point and restarted with the same flags
continues with the same weights, optimizer state, learning rate and data position,
under every strategy (distributed iterators, TPU ones included, cannot be saved).
Dropout's random state is not saved either: each step sets it from (seed, step, micro-batch,
replica) (see `Trainer._reseed_dropout`), so the masks after a restart are the ones an
uninterrupted run would have drawn. A save interrupted by a kill leaves temporary files,
removed by the next `fit` (see `remove_save_leftovers`).

A diverging run stops before it spoils the checkpoints it resumes from (see `LossWatch`,
`Trainer._stop_diverged`): a non-finite loss, a loss far above every earlier interval's, or
blown-up weights at a checkpoint step end the run with one line. A checkpoint's weights are
known good only once the loss of the steps after it has been seen, so the newest checkpoint
is moved aside into `diverged/` unless it was; the run directory then resumes from a good
one, and the same command with a lower --learning_rate continues from there.

Models plug in through an `Objective`. Its `loss_counts` says, from the batch alone, what each
loss term is normalised by (masked tokens, examples); the loop sums those over the replicas, and
`compute` returns the replica's share of the global loss with them, and (numerator,
denominator) sums for each metric, which the loop sums over replicas and steps, so every metric
is exact over the logged interval. The cross-replica sums stay outside the forward and backward
pass, so XLA compiles that pass (`jit_compile`) under every strategy: batches then come in a few
padded lengths (`batching.LENGTH_BUCKET`), each compiled once.

Gradient accumulation (`gradient_accumulation_steps` k) trades time for memory: each replica
cuts its batch into k equal micro-batches inside the step and runs their forward and backward
passes one after another, summing the gradients, then all-reduces, clips and applies them once.
The loss counts are those of the whole replica batch, so the update is that of one batch of
the same size; the data, the checkpoints and the resume are those of a step without it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import time
from typing import Callable, NoReturn, Protocol

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import text_format

from biobert_tf import atomic_files
from biobert_tf.bert.checkpoints import reading_checkpoint
from biobert_tf.bert.modeling import elementwise_xla
from biobert_tf.engine import batching, distribute, progress, run_dir
from biobert_tf.engine.optimization import clip_gradients, create_optimizer

CLIP_NORM = 1.0  # Google BERT clips the global gradient norm to 1.0
# A host call on CPU/GPU lasts about this long: often enough for a live progress bar, seldom
# enough that the round trips to the host cost little.
HOST_CALL_SECONDS = 1.0
# Room in a seed generator's counter for the draws of one step on one replica (one per call of
# a dropout layer): the next step or replica starts beyond it.
DRAWS_PER_STEP = 2 ** 16
# An interval's loss over this many times the highest loss of the earlier intervals is an
# explosion. The highest, not a typical level: warmup may raise the loss (a tiny test run logged
# at every step rises 20-fold in its first steps), and a hard batch late in a run can be ten
# times the typical loss, but a working model never scores ten times worse than it ever did.
EXPLOSION_FACTOR = 10.0
# Earlier intervals needed before a loss is judged against them.
EXPLOSION_MIN_INTERVALS = 2
# Weights whose global norm grew this many times since training started have blown up:
# training changes it by a few times at most, even pretraining from scratch.
WEIGHT_GROWTH_LIMIT = 1000.0
# Where a diverged run's checkpoints that are not known good go (RUN/diverged/<name>-<time>/).
DIVERGED_DIR = "diverged"
CHECKPOINT_NAME = "ckpt"
# What an interrupted save of a training checkpoint (ckpt-N) or of best/model leaves (TensorFlow
# 2.21): the shards are written into "<prefix>_temp/", every file as "<file>.tempstate<n>"
# until it is complete, and the "checkpoint" list through "checkpoint.tmp<hex>".
_SAVE_LEFTOVER = re.compile(rf"(?:{CHECKPOINT_NAME}-\d+|model)(?:_temp|\..+\.tempstate\d+)"
                            r"|checkpoint\.tmp[0-9a-f]{32}")
_TRAINING_CHECKPOINT = re.compile(rf"{CHECKPOINT_NAME}-(\d+)")


class Objective(Protocol):
    """The loss, metrics and prediction outputs of a model: what the loop runs (pretraining,
    NER, RE, QA each have one)."""

    model: keras.Model
    metric_names: tuple[str, ...]

    def loss_counts(self, batch: dict) -> dict[str, tf.Tensor]:
        """What the loss terms are normalised by, counted in this replica's batch (from the
        batch alone, not the model): the loop sums them over the replicas for `compute`."""

    def compute(self, batch: dict, counts: dict[str, tf.Tensor], training: bool
                ) -> tuple[tf.Tensor, dict[str, tuple]]:
        """In replica context, with `counts` the global sums of `loss_counts`: (this
        replica's share of the global mean loss, {metric: (numerator, denominator)} summed
        over this replica's examples). No cross-replica call: XLA may compile it."""

    # Fine-tuning tasks also have `predict(batch) -> {name: tensor}` for `Trainer.predict`.


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite or exploded, or the weights blew up."""


def global_counts(objective: Objective, batch: dict) -> dict[str, tf.Tensor]:
    """The objective's loss counts summed over all replicas, from replica context."""
    counts = {name: tf.cast(count, tf.float32)
              for name, count in objective.loss_counts(batch).items()}
    if not counts:  # all_reduce refuses an empty structure
        return counts
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, counts)


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Where and how long to train, and how often to log (`iterations_per_loop` steps: also
    the steps per host call on TPU) and to save checkpoints."""

    output_dir: str
    num_train_steps: int
    iterations_per_loop: int = 1000
    save_checkpoints_steps: int = 1000
    # At least 2 are kept: the newest is not known good before the loss after it is seen.
    keep_checkpoint_max: int = 5
    global_batch_size: int = 32
    # XLA-compile the forward and backward pass (TPUs always compile).
    jit_compile: bool = False
    # Micro-batches per replica batch, run one after another (see the module docstring).
    gradient_accumulation_steps: int = 1
    # Without jit_compile, still compile the layers' elementwise work (see
    # modeling.elementwise_xla).
    elementwise_xla: bool = True


def check_accumulation(config: LoopConfig, num_replicas: int) -> None:
    """A clear error when the replicas' batches cannot be cut into equal micro-batches."""
    steps = config.gradient_accumulation_steps
    per_replica = config.global_batch_size // num_replicas
    if steps < 1 or per_replica % steps:
        raise ValueError(f"--train_batch_size={config.global_batch_size} over {num_replicas} "
                         f"replica(s) gives {per_replica} examples per replica: they cannot be "
                         f"cut into --gradient_accumulation_steps={steps} equal micro-batches")


def split_batch(batch: dict, steps: int) -> Callable[[int | tf.Tensor], dict]:
    """micro_batch(i): rows [i·n/steps, (i+1)·n/steps) of every tensor of an n-row batch."""
    # [steps, n / steps, ...]: indexing keeps the static shapes a TPU needs.
    stacked = tf.nest.map_structure(
        lambda t: tf.reshape(t, tf.concat([[steps, -1], tf.shape(t)[1:]], 0)), batch)
    return lambda index: tf.nest.map_structure(lambda t: t[index], stacked)


def _dense(grads: list) -> list[tf.Tensor]:
    """The gradients that are not None, dense.

    Embedding gradients come as IndexedSlices with a row per distinct token: replicas with
    different token counts cannot all-gather them, and Keras would update only those rows.
    Dense, as Google's BERT: every strategy then makes the same update.
    """
    return [tf.convert_to_tensor(g) for g in grads if g is not None]


class _Sums:
    """Per-replica running sums, added in replica context and read (summed) on the host."""

    def __init__(self, names: tuple[str, ...]):
        self.variables = {name: tf.Variable(0.0, trainable=False, name=name.replace("/", "_"),
                                            synchronization=tf.VariableSynchronization.ON_READ,
                                            aggregation=tf.VariableAggregation.SUM)
                          for name in names}

    def add(self, values: dict[str, tf.Tensor]) -> None:
        for name, value in values.items():
            self.variables[name].assign_add(tf.cast(value, tf.float32))

    def read_and_reset(self) -> dict[str, float]:
        values = {name: float(v.read_value()) for name, v in self.variables.items()}
        for v in self.variables.values():
            v.assign(tf.zeros_like(v))
        return values


class LossWatch:
    """Tells an exploding loss from a normal one, over a run's logged intervals."""

    def __init__(self):
        self.highest = 0.0  # the highest interval loss so far
        self.intervals = 0

    def problem(self, loss: float, step: int) -> str | None:
        """What is wrong with `loss`, the mean over the interval ending at `step` (None if
        nothing: the loss then counts towards the level of the next intervals)."""
        if not math.isfinite(loss):
            return f"loss is {loss} at step {step}"
        if self.intervals >= EXPLOSION_MIN_INTERVALS and loss > EXPLOSION_FACTOR * self.highest:
            return (f"loss is {loss:.4g} at step {step}, over {EXPLOSION_FACTOR:g} times the "
                    f"highest loss before it ({self.highest:.4g})")
        self.highest = max(self.highest, loss)
        self.intervals += 1
        return None


def ratios(sums: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    """metric = numerator / denominator, for the (name/num, name/den) pairs in `sums`."""
    return {name: sums[f"{name}/num"] / max(sums[f"{name}/den"], 1e-12) for name in names}


class Trainer:
    """Runs an `Objective` under a strategy: training with checkpoints and resume, evaluation
    and prediction.

    Build the objective's model and the optimizer inside `strategy.scope()` before this.
    """

    def __init__(self, strategy: tf.distribute.Strategy, objective: Objective,
                 optimizer: keras.optimizers.Optimizer, config: LoopConfig):
        inner = getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer
        if getattr(inner, "aggregate_gradients", True):
            raise ValueError("the training loop sums and clips gradients across replicas itself: "
                             "create the optimizer with aggregate_gradients=False")
        check_accumulation(config, strategy.num_replicas_in_sync)
        self.strategy, self.objective, self.optimizer, self.config = (strategy, objective,
                                                                      optimizer, config)
        self._names = tuple(f"{m}/{part}" for m in ("loss",) + objective.metric_names
                            for part in ("num", "den"))
        with strategy.scope():
            self._sums = _Sums(self._names)
            # Slots must exist before the first step: a tf.function under a strategy
            # cannot create per-replica variables.
            optimizer.build(objective.model.trainable_variables)
            # The last host call's seconds per step; read back as the mean over the workers.
            self._seconds_per_step = tf.Variable(
                0.0, trainable=False, name="seconds_per_step",
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.MEAN)
        self._on_tpu = isinstance(strategy, tf.distribute.TPUStrategy)
        # Steps per host call; on CPU/GPU one until a step has been timed.
        self._call_steps = config.iterations_per_loop if self._on_tpu else 1
        self._restored = None  # the checkpoint the model already holds
        # The newest checkpoint while the loss of the steps after it is unseen (not known good).
        self._unconfirmed = None
        self._loss_watch = LossWatch()
        self._start_norm = None  # the weights' global norm when this loop started training
        # Keras keeps each layer's random state (dropout masks) in a SeedGenerator.
        self._seed_states = [generator.state
                             for layer in objective.model._flatten_layers()
                             for generator in layer._seed_generators]
        self._gradients = (tf.function(self._compute_gradients, jit_compile=True)
                           if config.jit_compile else self._compute_gradients)

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    @property
    def length_multiple(self) -> int:
        """What the padded lengths of training batches are to be multiples of: a compiled
        step compiles once per shape."""
        return batching.LENGTH_BUCKET if self.config.jit_compile else 1

    # ---- training ------------------------------------------------------------------
    def _compute_gradients(self, batch: dict, counts: dict[str, tf.Tensor]) -> tuple:
        scale = getattr(self.optimizer, "dynamic_scale", None)  # float16 loss scaling
        with tf.GradientTape() as tape, elementwise_xla(self.config.elementwise_xla):
            loss, sums = self.objective.compute(batch, counts, training=True)
            scaled_loss = loss * tf.cast(scale, loss.dtype) if scale is not None else loss
        return loss, sums, tape.gradient(scaled_loss, self.objective.model.trainable_variables)

    def _reseed_dropout(self, micro_batch: int | tf.Tensor) -> None:
        """Points every seed generator at draws of this step's, micro-batch's and replica's own.

        A generator's state is [seed, counter]: each draw uses it as a stateless seed and adds
        one to the counter. No checkpoint holds it, so a restarted job would draw other masks
        than an uninterrupted one, and replicas would share masks. Setting the counter from
        (step, replica, micro-batch) makes every mask a function of (seed, step, replica,
        micro-batch) alone; without accumulation (micro-batch 0 of 1) the counter is that of
        (step, replica).
        """
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group, tf.int64)
        step = tf.cast(self.optimizer.iterations, tf.int64)
        steps = self.config.gradient_accumulation_steps
        counter = (((step * context.num_replicas_in_sync + replica) * steps +
                    tf.cast(micro_batch, tf.int64)) * DRAWS_PER_STEP)
        for state in self._seed_states:
            state.assign(tf.stack([state[0], tf.cast(counter, state.dtype)]))

    def _micro_batch_gradients(self, batch: dict, counts: dict[str, tf.Tensor],
                               micro_batch: int | tf.Tensor) -> tuple:
        """(loss share, metric sums, gradients) of one micro-batch, with its own dropout."""
        self._reseed_dropout(micro_batch)
        return self._gradients(batch, counts)

    def _accumulated_gradients(self, batch: dict) -> tuple:
        """(loss share, metric sums, dense gradients, their variables) of the replica's batch.

        The counts are the whole batch's, so with micro-batches each one's loss is its share
        of the whole batch's mean and the sums are those of one pass over the batch. Variables
        the loss does not reach (the pooler under NER) are left out, as Google's optimizer
        skips their None gradients.
        """
        counts = global_counts(self.objective, batch)
        steps = self.config.gradient_accumulation_steps
        if steps == 1:
            loss, sums, grads = self._micro_batch_gradients(batch, counts, 0)
        else:
            loss, sums, grads = self._summed_micro_batches(batch, counts, steps)
        variables = [v for g, v in zip(grads, self.objective.model.trainable_variables)
                     if g is not None]
        return loss, sums, _dense(grads), variables

    def _summed_micro_batches(self, batch: dict, counts: dict[str, tf.Tensor],
                              steps: int) -> tuple:
        """(loss share, metric sums, gradients) summed over the `steps` micro-batches of
        `batch`, run one after another in a loop (not unrolled: the model is traced once):
        activations are held for one micro-batch at a time. Gradients the loss does not
        reach stay None."""
        variables = self.objective.model.trainable_variables
        micro_batches = split_batch(batch, steps)
        reached = []  # which gradients are not None: seen when the loop body is traced

        def add(total, more):
            return total + tf.cast(more, total.dtype)

        def add_micro_batch(index, loss, sums, grads):
            # The next micro-batch starts once the last one's gradients are summed.
            with tf.control_dependencies([loss, *grads]):
                micro_batch = micro_batches(index)
            more_loss, more_sums, more_grads = self._micro_batch_gradients(micro_batch, counts,
                                                                           index)
            reached[:] = [g is not None for g in more_grads]
            return (index + 1, add(loss, more_loss),
                    tf.nest.map_structure(add, sums, more_sums, check_types=False),
                    [total if g is None else add(total, tf.convert_to_tensor(g))
                     for total, g in zip(grads, more_grads)])

        _, loss, sums, grads = tf.while_loop(
            lambda index, *_: index < steps, add_micro_batch,
            (tf.constant(0), tf.constant(0.0),
             {name: (tf.constant(0.0), tf.constant(0.0)) for name in self.objective.metric_names},
             [tf.zeros(v.shape, v.dtype) for v in variables]),
            parallel_iterations=1)
        return loss, sums, [g if g_reached else None for g, g_reached in zip(grads, reached)]

    def _replica_step(self, batch: dict) -> None:
        scale = getattr(self.optimizer, "dynamic_scale", None)
        loss, sums, grads, variables = self._accumulated_gradients(batch)
        grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
        # Clipping the scaled gradients at CLIP_NORM * scale equals clipping the true ones.
        grads = clip_gradients(grads, CLIP_NORM * (scale if scale is not None else 1.0))
        self.optimizer.apply_gradients(zip(grads, variables))
        self._sums.add({"loss/num": loss, "loss/den": 1.0 / self.strategy.num_replicas_in_sync,
                        **{f"{m}/{part}": v for m, (num, den) in sums.items()
                           for part, v in (("num", num), ("den", den))}})

    # No autograph here or below: none of the code has Python control flow on tensors, and
    # converting it would add seconds to every run's first step.
    @tf.function(autograph=False)
    def _train_steps(self, iterator, num_steps: tf.Tensor) -> None:
        def step(index):
            self.strategy.run(self._replica_step, args=(next(iterator),))
            return (index + 1,)

        tf.while_loop(lambda index: index < num_steps, step, (tf.constant(0),))

    def _run_steps(self, iterator, num_steps: int, report: progress.Progress) -> None:
        """`num_steps` training steps in host calls of `_call_steps` steps, reported after each.

        Cutting an interval into calls changes nothing else: the same steps run in the same
        order and the metric sums keep adding up until the interval's end.
        """
        while num_steps > 0:
            call_steps = min(self._call_steps, num_steps)
            call_start = time.perf_counter()
            self._train_steps(iterator, tf.constant(call_steps))
            if not self._on_tpu:
                self._pace(call_steps, time.perf_counter() - call_start)
            report.update(call_steps)
            num_steps -= call_steps

    def _pace(self, call_steps: int, seconds: float) -> None:
        """Sizes the next host call to last about HOST_CALL_SECONDS. The step time is the mean
        over the workers (the read is a cross-worker reduction): every MultiWorkerMirrored
        worker must run the same steps per call, or their collectives would not match."""
        self._seconds_per_step.assign(seconds / call_steps)
        seconds_per_step = float(self._seconds_per_step.read_value())
        self._call_steps = max(1, int(HOST_CALL_SECONDS / max(seconds_per_step, 1e-9)))

    def fit(self, dataset_fn: Callable[[tf.distribute.InputContext, int], tf.data.Dataset],
            initialize: Callable[[], None] | None = None, stop_at: int | None = None) -> int:
        """Trains to `num_train_steps` (or to `stop_at`, e.g. an epoch's end, checkpointed),
        resuming from the newest checkpoint in `output_dir` (else calling `initialize`, e.g. to
        load an init checkpoint). Returns the step.

        `dataset_fn(input_context, start_step)` must give a deterministic per-replica
        dataset that has skipped the `start_step` batches already trained on. A diverging run
        raises TrainingDivergedError (see `_stop_diverged`).
        """
        config = self.config
        if is_chief(self.strategy):
            remove_save_leftovers(config.output_dir)
        checkpoint = tf.train.Checkpoint(model=self.objective.model, optimizer=self.optimizer)
        manager = tf.train.CheckpointManager(
            checkpoint, _worker_dir(config.output_dir, self.strategy),
            max_to_keep=max(config.keep_checkpoint_max, 2),
            step_counter=self.optimizer.iterations, checkpoint_name=CHECKPOINT_NAME)
        latest = tf.train.latest_checkpoint(config.output_dir)  # the chief's, for every worker
        end = min(config.num_train_steps, stop_at or config.num_train_steps)
        if latest and self._restored != latest:
            with reading_checkpoint(latest):
                checkpoint.restore(latest).assert_existing_objects_matched()
            logging.info("restored step %d from %s", self.step, latest)
            # Known good if a later checkpoint was saved (then moved aside).
            self._unconfirmed = None if _followed_by_a_save(latest) else latest
        elif not latest:
            if initialize is not None:
                initialize()
            self._unconfirmed = None
        self._restored = latest
        if self._start_norm is None:
            self._start_norm = self._weight_norm()
        start_step = self.step
        iterator = iter(self.strategy.distribute_datasets_from_function(
            lambda context: dataset_fn(context, start_step)))
        writer = (tf.summary.create_file_writer(os.path.join(config.output_dir, "train"))
                  if is_chief(self.strategy) else tf.summary.create_noop_writer())
        start_time = time.perf_counter()
        with progress.Progress("training", config.num_train_steps, "steps", initial=start_step,
                               enabled=is_chief(self.strategy)) as report:
            while self.step < end:
                step = self.step
                until_save = config.save_checkpoints_steps - step % config.save_checkpoints_steps
                num_steps = min(config.iterations_per_loop, end - step, until_save)
                loop_start = time.perf_counter()
                self._run_steps(iterator, num_steps, report)
                metrics = self._metrics(self._sums.read_and_reset())
                seconds = time.perf_counter() - loop_start
                self._check_loss(metrics["loss"])
                self._log(report, metrics, num_steps, seconds, start_step, start_time, writer)
                if self.step % config.save_checkpoints_steps == 0 or self.step >= end:
                    self._check_weights()
                    manager.save(checkpoint_number=self.step)
                    _cleanup_worker_dir(manager.directory, config.output_dir)
                    self._restored = self._unconfirmed = tf.train.latest_checkpoint(
                        config.output_dir)
        return self.step

    def _weight_norm(self) -> float:
        return float(tf.linalg.global_norm(self.objective.model.trainable_variables))

    def _check_loss(self, loss: float) -> None:
        """Stops a run whose interval loss shows divergence; else the newest checkpoint, whose
        weights the interval started from, is known good."""
        problem = self._loss_watch.problem(loss, self.step)
        if problem:
            self._stop_diverged(problem)
        self._unconfirmed = None

    def _check_weights(self) -> None:
        """Stops a run whose weights blew up, before they are saved."""
        norm = self._weight_norm()
        if not norm <= WEIGHT_GROWTH_LIMIT * self._start_norm:  # NaN included
            self._stop_diverged(f"the weights' global norm is {norm:.4g} at step {self.step} "
                                f"({self._start_norm:.4g} when this run started)")

    def _stop_diverged(self, problem: str) -> NoReturn:
        """Moves the newest checkpoint aside unless the loss after it was seen (the chief
        does), so that the run directory resumes from a good one, and stops the run saying
        so in one line."""
        output_dir = self.config.output_dir
        moved = ""
        if self._unconfirmed and is_chief(self.strategy):
            folder = set_aside(self._unconfirmed)
            moved = (f"{os.path.basename(self._unconfirmed)} was saved before the loss after it "
                     f"was seen: moved to {folder}. ")
        kept = tf.train.latest_checkpoint(output_dir)
        self._restored = None  # the model holds the diverged weights
        resume = (f"Rerun with a lower --learning_rate to resume from {kept}" if kept else
                  "No checkpoint is known good: rerun with a lower --learning_rate to start over")
        raise TrainingDivergedError(f"training diverged: {problem}. {moved}{resume}, or check "
                                    "the data")

    def _metrics(self, sums: dict[str, float]) -> dict[str, float]:
        metrics = ratios(sums, ("loss",) + self.objective.metric_names)
        metrics["learning_rate"] = float(_current_lr(self.optimizer))
        return metrics

    def _log(self, report, metrics, num_steps, seconds, start_step, start_time, writer) -> None:
        config, step = self.config, self.step
        steps_per_second = num_steps / seconds
        done = step - start_step
        eta = (config.num_train_steps - step) * (time.perf_counter() - start_time) / max(done, 1)
        report.log("step %d/%d  loss %.4f  %s  %.2f steps/s  %.1f examples/s  ETA %s", step,
                   config.num_train_steps, metrics["loss"],
                   "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "loss"),
                   steps_per_second, steps_per_second * config.global_batch_size,
                   time.strftime("%H:%M:%S", time.gmtime(eta)))
        with writer.as_default(step=step):
            for name, value in metrics.items():
                tf.summary.scalar(name, value)
            tf.summary.scalar("examples_per_second", steps_per_second * config.global_batch_size)

    # ---- evaluation ----------------------------------------------------------------
    def _replica_eval_step(self, batch: dict) -> None:
        loss, sums = self.objective.compute(batch, global_counts(self.objective, batch),
                                            training=False)
        self._sums.add({"loss/num": loss, "loss/den": 1.0 / self.strategy.num_replicas_in_sync,
                        **{f"{m}/{part}": v for m, (num, den) in sums.items()
                           for part, v in (("num", num), ("den", den))}})

    # Evaluation and prediction batches may be padded per batch: let shapes generalise
    # instead of tracing once per batch length.
    @tf.function(reduce_retracing=True, autograph=False)
    def _eval_step(self, batch) -> None:
        self.strategy.run(self._replica_eval_step, args=(batch,))

    def evaluate(self, dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset],
                 max_steps: int | None = None) -> dict[str, float]:
        """Metrics over the evaluation data (at most `max_steps` batches)."""
        self._sums.read_and_reset()
        dataset = self.strategy.distribute_datasets_from_function(dataset_fn)
        steps = 0
        with progress.Progress("evaluating", _num_batches(dataset, max_steps), "batches",
                               enabled=is_chief(self.strategy)) as report:
            for batch in dataset:
                if max_steps is not None and steps >= max_steps:
                    break
                self._eval_step(batch)
                steps += 1
                report.update(1)
        metrics = ratios(self._sums.read_and_reset(), ("loss",) + self.objective.metric_names)
        metrics.update(global_step=self.step, eval_steps=steps)
        return metrics

    @tf.function(reduce_retracing=True, autograph=False)
    def _predict_step(self, batch):
        return self.strategy.run(self.objective.predict, args=(batch,))

    def predict(self, dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset]
                ) -> list[dict[str, np.ndarray]]:
        """`objective.predict` outputs of every batch, in dataset order (this worker's replicas
        in turn). `dataset_fn` must give every replica a full batch (see batching.predict_plan)."""
        outputs = []
        dataset = self.strategy.distribute_datasets_from_function(dataset_fn)
        with progress.Progress("predicting", _num_batches(dataset), "batches",
                               enabled=is_chief(self.strategy)) as report:
            for batch in dataset:
                per_replica = {k: self.strategy.experimental_local_results(v)
                               for k, v in self._predict_step(batch).items()}
                for i in range(len(next(iter(per_replica.values())))):
                    outputs.append({k: v[i].numpy() for k, v in per_replica.items()})
                report.update(1)
        return outputs


def _num_batches(dataset, max_steps: int | None = None) -> int | None:
    """The batches a (distributed) dataset gives, at most `max_steps`; None when unknown."""
    cardinality = dataset.cardinality  # a method of tf.data.Dataset, a property of distributed ones
    count = int(cardinality() if callable(cardinality) else cardinality)
    if count < 0:  # infinite, or unknown (e.g. after a filter)
        return max_steps
    return count if max_steps is None else min(count, max_steps)


def write_results(path: str, results: dict[str, float]) -> None:
    """`key = value` lines in key order, as Google's `eval_results.txt`, written whole."""
    for key in sorted(results):
        logging.info("  %s = %s", key, results[key])
    atomic_files.write_text(path, "".join(f"{key} = {results[key]}\n" for key in sorted(results)))
    logging.info("wrote %s", path)


def _current_lr(optimizer) -> tf.Tensor:
    lr = optimizer.learning_rate
    return lr(optimizer.iterations) if callable(lr) else lr


def trainer_for(settings, strategy: tf.distribute.Strategy, objective: Objective,
                num_train_steps: int, warmup_steps: int,
                xla_default: str = distribute.XLA_ON_ACCELERATORS) -> Trainer:
    """The loop for `objective` (its model built in `strategy.scope()` under the precision
    policy set by `distribute.set_mixed_precision`) with its --optimizer, from a job's
    `engine.settings.LoopSettings`: one place for every job. `xla_default`: where the job
    compiles unless --jit_compile says (see `distribute.use_xla`)."""
    with strategy.scope():
        # The update and the layers' elementwise work are compiled on their own (XLA fuses
        # them on every platform) unless --nojit_compile says no XLA at all.
        any_xla = settings.jit_compile is not False
        optimizer = create_optimizer(settings.learning_rate, num_train_steps, warmup_steps,
                                     aggregate_gradients=False, optimizer=settings.optimizer,
                                     jit_compile=any_xla)
        if keras.mixed_precision.global_policy().compute_dtype == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    jit_compile = distribute.use_xla(settings.jit_compile, strategy, xla_default)
    logging.info("XLA-compiled training step: %s", "on" if jit_compile else "off")
    logging.info("optimizer: %s, %d micro-batch(es) per replica batch", settings.optimizer,
                 settings.gradient_accumulation_steps)
    # By name: a field added to LoopConfig must not shift the others.
    return Trainer(strategy, objective, optimizer, LoopConfig(
        output_dir=settings.output_dir, num_train_steps=num_train_steps,
        iterations_per_loop=settings.iterations_per_loop,
        save_checkpoints_steps=settings.save_checkpoints_steps,
        keep_checkpoint_max=settings.keep_checkpoint_max,
        global_batch_size=settings.train_batch_size, jit_compile=jit_compile,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        elementwise_xla=any_xla))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes shared outputs (exports, results) under the strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and
                                             resolver.task_id == 0 and
                                             "chief" not in resolver.cluster_spec().jobs)


def _worker_dir(output_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Every MultiWorkerMirrored worker must save; only the chief's copy is kept."""
    if is_chief(strategy):
        return output_dir
    resolver = strategy.cluster_resolver
    return os.path.join(output_dir, f"worker_tmp_{resolver.task_type}_{resolver.task_id}")


def _cleanup_worker_dir(directory: str, output_dir: str) -> None:
    if directory != output_dir:
        tf.io.gfile.rmtree(directory)


def remove_save_leftovers(output_dir: str) -> None:
    """Removes what interrupted checkpoint saves left in `output_dir` and its best/ folder
    (see _SAVE_LEFTOVER), and nothing else."""
    for folder in (output_dir, os.path.join(output_dir, run_dir.BEST_DIR)):
        if not tf.io.gfile.isdir(folder):
            continue
        for name in tf.io.gfile.listdir(folder):
            name = name.rstrip("/")  # gfile marks folders so on some file systems
            if _SAVE_LEFTOVER.fullmatch(name):
                path = os.path.join(folder, name)
                logging.info("removing %s, left by an interrupted checkpoint save", path)
                (tf.io.gfile.rmtree if tf.io.gfile.isdir(path) else tf.io.gfile.remove)(path)


def _step_of(checkpoint: str) -> int:
    return int(_TRAINING_CHECKPOINT.fullmatch(os.path.basename(checkpoint))[1])


def _followed_by_a_save(checkpoint: str) -> bool:
    """Whether a later checkpoint of the run was moved aside into diverged/: the loop saves
    only after the loss of the steps before passed, so `checkpoint` is known good."""
    pattern = os.path.join(os.path.dirname(checkpoint), DIVERGED_DIR, "*",
                           f"{CHECKPOINT_NAME}-*.index")
    return any(_step_of(path[:-len(".index")]) > _step_of(checkpoint)
               for path in tf.io.gfile.glob(pattern))


def set_aside(checkpoint: str) -> str:
    """Moves a training checkpoint (the newest) into a new folder in RUN/diverged/ and out of
    the run's checkpoint list, so that the run resumes from the one before; returns the
    folder. Its files are kept for a post-mortem."""
    output_dir = os.path.dirname(checkpoint)
    name = os.path.basename(checkpoint)
    folder = run_dir.fresh_results_dir(os.path.join(output_dir, DIVERGED_DIR), name)
    for path in tf.io.gfile.glob(f"{checkpoint}.*"):
        tf.io.gfile.rename(path, os.path.join(folder, os.path.basename(path)))
    state = tf.train.get_checkpoint_state(output_dir)
    names = [os.path.basename(path) for path in state.all_model_checkpoint_paths]
    # The next CheckpointManager deletes old checkpoints only if it knows when they were saved.
    times = list(state.all_model_checkpoint_timestamps) or [time.time()] * len(names)
    kept = [(kept_name, saved) for kept_name, saved in zip(names, times) if kept_name != name]
    if kept:
        names, times = (list(column) for column in zip(*kept))
        # Relative names in an absolute directory, as the CheckpointManager writes them.
        kept_state = tf.compat.v1.train.generate_checkpoint_state_proto(
            os.path.abspath(output_dir), names[-1], names, times, state.last_preserved_timestamp)
        atomic_files.write_text(os.path.join(output_dir, "checkpoint"),
                                text_format.MessageToString(kept_state))
    else:  # nothing left to resume from: the list goes with the checkpoint
        tf.io.gfile.rename(os.path.join(output_dir, "checkpoint"),
                           os.path.join(folder, "checkpoint"))
    return folder
