"""What every fine-tuning task (NER, RE, QA) does the same way around its own model.

`RunConfig` holds BioBERT's shared fine-tuning flags; `TaskRunner` turns them into a
tokenizer, an encoder initialised from `--init_checkpoint`, a `Trainer` with Google's
optimizer, whole-epoch training with optional early stopping on a dev score, restoring a
trained model for evaluation alone, and ordered prediction. A task subclasses it with its
model, its loss (`make_task`) and its data; the run_*.py scripts only wire flags to it.

`--init_checkpoint` is a Google/BioBERT TF1 prefix, an HF directory, a keras-hub preset, or
the output directory of one of our fine-tuning runs. From our own run the encoder is always
taken, and the task head too when the task's head has the same variables (a SQuAD model
continued on BioASQ); otherwise the head starts fresh, as from a plain BERT checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

from biobert_tf.bert import checkpoints
from biobert_tf.engine import batching
from biobert_tf.engine import training
from biobert_tf.bert.config import BertConfig
from biobert_tf.engine.optimization import create_optimizer
from biobert_tf.bert.tokenization import BertTokenizer

HISTORY_FILE = "dev_history.json"
BEST_DIR = "best"
TASK_FILE = "task.json"  # which task's run a directory holds


@dataclasses.dataclass
class RunConfig:
    """BioBERT's fine-tuning flags (names and defaults) and ours, shared by every task."""

    data_dir: str
    output_dir: str
    init_checkpoint: str | None
    bert_config_file: str | None = None
    vocab_file: str | None = None
    do_lower_case: bool = True
    max_seq_length: int = 128
    do_train: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    early_stopping_patience: int = 0
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 1000
    keep_checkpoint_max: int = 2
    seed: int = 42
    mixed_precision: str = "none"
    jit_compile: bool = False
    progress_bar: bool = False

    @classmethod
    def from_flags(cls, values: flags.FlagValues, **overrides):
        """The config (of this class or a subclass) from the flags of the same names."""
        names = {f.name for f in dataclasses.fields(cls)}
        settings = {name: getattr(values, name) for name in names if name in values}
        settings.update(overrides)
        return cls(**settings)


def _is_run_dir(path: str) -> bool:
    """A directory written by a TaskRunner (its config, vocab and a trained checkpoint)."""
    return (os.path.isdir(path) and os.path.exists(os.path.join(path, TASK_FILE))
            and (tf.io.gfile.exists(os.path.join(path, BEST_DIR, "model.index"))
                 or tf.train.latest_checkpoint(path) is not None))


def trained_checkpoint(output_dir: str) -> str | None:
    """The weights a run keeps: the best dev epoch's, else the newest checkpoint."""
    best = os.path.join(output_dir, BEST_DIR, "model")
    if tf.io.gfile.exists(best + ".index"):
        return best
    return tf.train.latest_checkpoint(output_dir)


def trained_run_file(output_dir: str, name: str) -> str:
    """`output_dir/name`, written by training; a clear error when the run was never trained."""
    path = os.path.join(output_dir, name)
    if not os.path.exists(path):
        raise ValueError(f"no {path}: train first (--do_train) or point --output_dir "
                         "at a trained model")
    return path


class TaskRunner:
    """Tokenizer, encoder init, trainer, epochs, restore and predict for a task's model.

    Subclasses set `task_name`, `model_inputs` (the features the model reads) and
    `sequence_outputs` (prediction outputs with one value per position), and implement
    `make_model()` (called inside the strategy scope) and `make_task(model)`.
    """

    task_name: str = ""
    model_inputs: tuple[str, ...] = ()
    sequence_outputs: tuple[str, ...] = ()

    def __init__(self, run: RunConfig, strategy: tf.distribute.Strategy):
        self.run, self.strategy = run, strategy
        self.static_shapes = isinstance(strategy, tf.distribute.TPUStrategy)
        self.model: keras.Model | None = None
        self.setup_encoder()

    def setup_encoder(self) -> None:
        """BERT: the init checkpoint, config, vocab and tokenizer. (A word-level model, the
        BiLSTM-CRF, overrides this, `initialize` and `save_encoder_files`.)"""
        run = self.run
        init = run.init_checkpoint
        self.init_run_dir = init if init and _is_run_dir(init) else None
        self.init = None
        if init and not self.init_run_dir:
            self.init = checkpoints.read_checkpoint(init, run.bert_config_file)
        config_file = run.bert_config_file or (
            os.path.join(self.init_run_dir, checkpoints.BERT_CONFIG_NAME) if self.init_run_dir
            else None)
        if config_file:
            self.config = BertConfig.from_json_file(config_file)
        elif self.init is not None:
            self.config = self.init.config
        else:
            raise ValueError("--init_checkpoint or --bert_config_file is required")
        beside = (os.path.join(self.init_run_dir, checkpoints.VOCAB_NAME) if self.init_run_dir
                  else self.init.vocab_file if self.init else None)
        self.vocab_file = run.vocab_file or beside
        if not self.vocab_file or not os.path.exists(self.vocab_file):
            raise ValueError("no vocab.txt beside --init_checkpoint: pass --vocab_file")
        checkpoints.check_vocab(self.config, self.vocab_file)
        self.tokenizer = BertTokenizer(self.vocab_file, do_lower_case=run.do_lower_case)

    # ---- what a task provides (besides make_model and make_task) -----------------------
    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        """A one-example batch that builds every variable of the model."""
        return {k: tf.zeros([1, 8], tf.int32) for k in self.model_inputs}

    # ---- model and trainer ------------------------------------------------------------
    def build(self, num_train_steps: int = 1, warmup_steps: int = 0) -> training.Trainer:
        run = self.run
        keras.utils.set_random_seed(run.seed)  # the same head init for every fold or phase
        with self.strategy.scope():
            self.model = self.make_model()
            self.model(self.dummy_inputs())
            optimizer = create_optimizer(run.learning_rate, num_train_steps, warmup_steps,
                                         aggregate_gradients=False)
            if run.mixed_precision == "float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return training.Trainer(self.strategy, self.make_task(self.model), optimizer,
                                training.LoopConfig(
                                    run.output_dir, num_train_steps, run.iterations_per_loop,
                                    run.save_checkpoints_steps, run.keep_checkpoint_max,
                                    run.train_batch_size, run.jit_compile, run.progress_bar))

    def initialize(self) -> None:
        """Sets the fresh model from --init_checkpoint (called before the first step only)."""
        if self.init_run_dir:
            self._initialize_from_run(self.init_run_dir)
        elif self.init is not None:
            ignored = checkpoints.assign_weights(self.model.encoder, self.init.weights,
                                                 self.init.source)
            logging.info("encoder initialised from %s (%d variables not used)",
                         self.init.source, len(ignored))
        else:
            logging.warning("no --init_checkpoint: the encoder starts from random weights")

    def _initialize_from_run(self, run_dir: str) -> None:
        path = trained_checkpoint(run_dir)
        with open(os.path.join(run_dir, TASK_FILE)) as f:
            same_task = json.load(f).get("task") == self.task_name
        if same_task:
            fresh = [v.numpy() for v in self.model.variables]
            try:
                tf.train.Checkpoint(model=self.model).read(
                    path).assert_existing_objects_matched().expect_partial()
                logging.info("model (encoder and head) initialised from %s", path)
                return
            except (AssertionError, ValueError) as e:  # another label set: another head shape
                for variable, value in zip(self.model.variables, fresh):
                    variable.assign(value)
                logging.info("the head of %s does not fit (%s)", path, str(e).splitlines()[0])
        tf.train.Checkpoint(model=tf.train.Checkpoint(encoder=self.model.encoder)).read(
            path).assert_existing_objects_matched().expect_partial()
        logging.info("encoder initialised from %s; the %s head starts fresh", path,
                     self.task_name)

    def save_model_files(self) -> None:
        """task.json, bert_config.json and vocab.txt in output_dir, so that the run can be
        another run's --init_checkpoint."""
        out = self.run.output_dir
        tf.io.gfile.makedirs(out)
        with tf.io.gfile.GFile(os.path.join(out, TASK_FILE), "w") as f:
            json.dump({"task": self.task_name}, f)
        self.save_encoder_files(out)

    def save_encoder_files(self, directory: str) -> None:
        """What reading the model's inputs needs beside its weights: bert_config.json and
        vocab.txt (also written beside exported SavedModels)."""
        self.config.to_json_file(os.path.join(directory, checkpoints.BERT_CONFIG_NAME))
        tf.io.gfile.copy(self.vocab_file, os.path.join(directory, checkpoints.VOCAB_NAME),
                         overwrite=True)

    def save_serving_module(self, module: tf.Module, export_dir: str, what: str) -> None:
        """A SavedModel whose `serving_default` is `module.__call__`, with the encoder files
        beside it."""
        tf.saved_model.save(module, export_dir, signatures={"serving_default": module.__call__})
        self.save_encoder_files(export_dir)
        logging.info("exported the %s SavedModel to %s", what, export_dir)

    # ---- training ---------------------------------------------------------------------
    def train(self, features: dict[str, np.ndarray],
              dev_score: Callable[[training.Trainer], float] | None = None,
              what: str = "training examples") -> training.Trainer:
        """Whole epochs over `features` (the model inputs plus the labels the task reads).

        With `dev_score` (and `early_stopping_patience`), the dev set is scored after every
        epoch; the best epoch's weights are kept (`best/`) and training stops after
        `early_stopping_patience` epochs without a gain. Re-running resumes.
        """
        run = self.run
        count = len(features[batching.LENGTH_KEY])
        plan_schedule = batching.schedule(count, run.train_batch_size, run.num_train_epochs)
        logging.info("%d %s; %d steps per epoch × %d epochs", count, what,
                     plan_schedule.steps_per_epoch, plan_schedule.num_epochs)
        trainer = self.build(plan_schedule.num_train_steps,
                             plan_schedule.warmup_steps(run.warmup_proportion))
        if training.is_chief(self.strategy):
            self.save_model_files()
        plan = batching.train_plan(features[batching.LENGTH_KEY].sum(1),
                                     run.train_batch_size, plan_schedule.num_epochs, run.seed)

        def dataset_fn(context, start_step):
            return batching.make_dataset(features, plan, context, self.static_shapes,
                                           start_step)

        if not run.early_stopping_patience:
            dev_score = None
        history = self._load_history()
        for epoch in range(plan_schedule.num_epochs):
            trainer.fit(dataset_fn, self.initialize,
                        stop_at=(epoch + 1) * plan_schedule.steps_per_epoch)
            if dev_score is None:
                continue
            if len(history) <= epoch:
                score = dev_score(trainer)
                history.append(score)
                if score >= max(history) and training.is_chief(self.strategy):
                    tf.train.Checkpoint(model=self.model).write(
                        os.path.join(run.output_dir, BEST_DIR, "model"))
                self._save_history(history)
                logging.info("epoch %d: dev score %.4f (best %.4f, epoch %d)", epoch + 1,
                             score, max(history), int(np.argmax(history)) + 1)
            if epoch - int(np.argmax(history)) >= run.early_stopping_patience:
                logging.info("early stopping: no dev gain in %d epochs",
                             run.early_stopping_patience)
                break
        if dev_score is not None:
            tf.train.Checkpoint(model=self.model).read(
                os.path.join(run.output_dir, BEST_DIR, "model")).expect_partial()
            logging.info("kept the weights of epoch %d (dev score %.4f)",
                         int(np.argmax(history)) + 1, max(history))
        return trainer

    def _load_history(self) -> list[float]:
        path = os.path.join(self.run.output_dir, HISTORY_FILE)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return json.load(f)

    def _save_history(self, history: list[float]) -> None:
        with open(os.path.join(self.run.output_dir, HISTORY_FILE), "w") as f:
            json.dump(history, f)

    def restore(self) -> training.Trainer:
        """A trainer around the trained weights in output_dir (for eval/predict alone)."""
        trainer = self.build()
        path = trained_checkpoint(self.run.output_dir)
        if path is None:
            raise ValueError(f"no trained model in {self.run.output_dir}: run --do_train first")
        tf.train.Checkpoint(model=self.model).read(path).expect_partial()
        return trainer

    # ---- prediction -------------------------------------------------------------------
    def predict(self, trainer: training.Trainer, features: dict[str, np.ndarray],
                batch_size: int) -> dict[str, np.ndarray]:
        """`task.predict` outputs for every example, in order; per-batch outputs shorter than
        the sequence length (batches are padded per batch) are zero-padded back to it."""
        count, seq_length = features[batching.LENGTH_KEY].shape
        plan = batching.predict_plan(count, batch_size)
        inputs = {k: features[k] for k in self.model_inputs}
        outputs = trainer.predict(
            lambda context: batching.make_dataset(inputs, plan, context, self.static_shapes,
                                                    per_worker=True))

        def stacked(key):
            rows = [o[key] for o in outputs]
            if key in self.sequence_outputs:
                rows = [np.pad(r, [(0, 0), (0, seq_length - r.shape[1])] +
                               [(0, 0)] * (r.ndim - 2)) for r in rows]
            return np.concatenate(rows)[:count]

        return {key: stacked(key) for key in outputs[0]}
