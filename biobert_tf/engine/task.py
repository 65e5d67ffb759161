"""The one Task interface above the training loop, in the spirit of TF Model Garden's base_task.

A fine-tuning task (NER, RE, QA spans, QA yes/no, the BiLSTM-CRF) provides what is its own:

- **data**: which files its settings name (`data_files`) and how to read one (`read_file`,
  which raises with `file:line` on bad input); the driver reads every one before training;
- **spec**: what it derives from the training data and saves with the model (labels, ...);
- **features**: examples → numpy model inputs (+ labels);
- **model and objective**: the Keras model and the loss/metrics/predictions the loop runs;
- **scores and results**: the dev/test score and the result files it writes;
- **serving**: the raw-text SavedModel module and what raw-text prediction returns.

`Task` does the rest the same way for every task, so a new task is one folder plus a run
script: the encoder files and tokenizer, initialisation from `--init_checkpoint` (Google/
BioBERT TF1, HF, keras-hub, or one of our runs), the optimizer and `Trainer`, whole-epoch
training with early stopping on the dev score, restoring the kept weights, ordered
prediction, and the export. Everything a task derives is computed on first use
(`functools.cached_property`), so no hook depends on the order in which another ran.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import json
import os
from typing import Any, ClassVar, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf import atomic_files, json_files
from biobert_tf.annotation.document import AnnotatedDocument
from biobert_tf.bert import checkpoints
from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.tokenization import BertTokenizer
from biobert_tf.engine import batching, distribute, run_dir, serving, tfds_source, training
from biobert_tf.engine.settings import FineTuningSettings

HISTORY_FILE = "dev_history.json"
# Where the data is: a folder, or a TFDS data set. A run adopts the saved ones only when the
# command line names none of them.
DATA_SOURCE = ("data_dir", "tfds_name", "tfds_data_dir", "tfds_manual_dir")


class Task(abc.ABC):
    """One fine-tuning task: what the driver (`engine.driver.run`) needs of it.

    Subclasses set the class attributes and implement the abstract methods; `settings` is
    an instance of `settings_class`; `results_dir` is where this run's result files go.
    """

    name: ClassVar[str]  # recorded in task.json; a run of the same task can be resumed/reused
    settings_class: ClassVar[type[FineTuningSettings]]
    # Settings that define the trained model, saved in task.json and taken from it later.
    model_settings: ClassVar[tuple[str, ...]] = ("do_lower_case", "max_seq_length")
    # Settings that say where the data was: defaults for a later run on the same directory.
    data_settings: ClassVar[tuple[str, ...]] = DATA_SOURCE
    # The TFDS builder of the task's data sets (--tfds_name=BUILDER/CONFIG), if it has one.
    tfds_builder: ClassVar[str | None] = None
    # The setting that names each split's file (tasks whose files are one per split).
    file_flags: ClassVar[dict[str, str]] = {"train": "train_file", "dev": "dev_file",
                                            "test": "test_file"}
    spec_file: ClassVar[str]  # what the task derives from its training data
    model_inputs: ClassVar[tuple[str, ...]]  # the features the model reads
    label_features: ClassVar[tuple[str, ...]]  # the features the objective reads besides
    sequence_outputs: ClassVar[tuple[str, ...]] = ()  # prediction outputs per position
    # Whether --predict_text / --predict_file (one raw text per line) apply to the task.
    predicts_text: ClassVar[bool] = True
    # Whether its text predictions can be written as annotated documents, as
    # --predict_format=pubtator|bioc_json does (`prediction_document`).
    writes_documents: ClassVar[bool] = False
    # Where XLA compiles the training step unless --jit_compile says (see distribute.use_xla).
    xla_default: ClassVar[str] = distribute.XLA_ON_ACCELERATORS

    def __init__(self, settings: FineTuningSettings, strategy: tf.distribute.Strategy):
        self.settings, self.strategy = settings, strategy
        self.results_dir = settings.output_dir  # the driver's choice once inputs are valid
        self.static_shapes = isinstance(strategy, tf.distribute.TPUStrategy)
        self.model: keras.Model | None = None
        self._examples: dict[str, list] = {}
        self._features: dict[str, dict[str, np.ndarray]] = {}

    # ---- data: what each task provides -------------------------------------------------
    def split_path(self, split: str) -> str:
        """The file of a split ("train", "dev", "test") as the settings name it (a task whose
        files are not one per split overrides `data_files` instead)."""
        raise NotImplementedError(f"{type(self).__name__} names its files in data_files")

    def file_flag(self, split: str) -> tuple[str, str | None]:
        """The flag that names a split's file (`file_flags`), and its value."""
        name = self.file_flags[split]
        return name, getattr(self.settings, name)

    def tfds_split(self, split: str) -> str:
        """The TFDS split (of --tfds_name) that stands for a split's file (tasks with a TFDS
        builder)."""
        raise NotImplementedError(f"{type(self).__name__} reads no TFDS data set")

    def split_source(self, split: str) -> str | tfds_source.Split:
        """A split's file, or its TFDS split with --tfds_name."""
        s = self.settings
        if not s.tfds_name:
            return self.split_path(split)
        return tfds_source.Split(s.tfds_name, self.tfds_split(split), s.tfds_data_dir,
                                 s.tfds_manual_dir)

    def data_files(self) -> dict[str, str | tfds_source.Split]:
        """{split: source} for the splits this run uses: "train" (with do_train), "dev" (with
        do_eval, or for early stopping when it exists), "test" (with do_predict)."""
        s, files = self.settings, {}
        if s.do_train:
            files["train"] = self.split_source("train")
        if s.do_eval or (self.early_stopping and tfds_source.exists(self.split_source("dev"))):
            files["dev"] = self.split_source("dev")
        if s.do_predict:
            files["test"] = self.split_source("test")
        return files

    @property
    def early_stopping(self) -> bool:
        """Whether training is to score the dev set after every epoch."""
        return self.settings.do_train and self.settings.early_stopping_patience > 0

    @abc.abstractmethod
    def read_file(self, path: str) -> list:
        """The examples of one data file; bad input raises ValueError naming file:line."""

    def from_tfds(self, rows: list[dict], info, source: tfds_source.Split) -> list:
        """The examples of a TFDS split (`tfds_source.load_split`'s rows) as `read_file`
        gives them (tasks with a TFDS builder)."""
        raise NotImplementedError(f"{type(self).__name__} reads no TFDS data set")

    def read_source(self, source: str | tfds_source.Split) -> list:
        """The examples of a file or a TFDS split."""
        if isinstance(source, tfds_source.Split):
            return self.from_tfds(*tfds_source.load_split(source), source)
        return self.read_file(source)

    def examples(self, split: str) -> list:
        """The examples of a split (read once)."""
        if split not in self._examples:
            source = self.data_files().get(split)
            if source is None:
                raise ValueError(f"no {split} file: set the flag that names it")
            self._examples[split] = self.read_source(source)
        return self._examples[split]

    def features(self, split: str) -> dict[str, np.ndarray]:
        """The encoded examples of a split (encoded once: the dev set is scored every epoch)."""
        if split not in self._features:
            self._features[split] = self.encode(self.examples(split))
        return self._features[split]

    def validate(self) -> None:
        """Reads every input this run names (data files, the spec, the init checkpoint; tasks
        add their encoder files), so that a bad file stops the run before any training."""
        predict_file = self.settings.predict_file
        if self.predicts_text and predict_file and not os.path.isfile(predict_file):
            raise ValueError(f"--predict_file={predict_file}: no such file")
        if self.settings.export_dir:  # before training, not after it
            atomic_files.check_replaceable(self.settings.export_dir, serving.SAVED_MODEL_FILE)
        if self.early_stopping and "dev" not in self.data_files():
            logging.warning("no dev file: --early_stopping_patience is ignored")
        for split in self.data_files():
            self.examples(split)
        self.spec  # noqa: B018 (derived from the training data, or loaded)
        self.init_weights  # noqa: B018 (read once, here rather than after the model is built)

    # ---- spec ---------------------------------------------------------------------------
    @abc.abstractmethod
    def derive_spec(self) -> Any:
        """What the model needs from the training data (labels, ...)."""

    @abc.abstractmethod
    def load_spec(self, path: str) -> Any: ...

    @abc.abstractmethod
    def save_spec(self, spec: Any, path: str) -> None: ...

    @functools.cached_property
    def spec(self) -> Any:
        """Derived from the training data when training, else the trained run's."""
        return run_dir.load_or_derive(os.path.join(self.settings.output_dir, self.spec_file),
                                      self.load_spec, self.derive_spec, self.save_spec,
                                      training=self.settings.do_train)

    # ---- model --------------------------------------------------------------------------
    @abc.abstractmethod
    def make_model(self) -> keras.Model:
        """The task's model (called inside the strategy scope)."""

    @abc.abstractmethod
    def make_objective(self, model: keras.Model) -> training.Objective:
        """The loss, metrics and prediction outputs of `model` for the loop."""

    @abc.abstractmethod
    def encode(self, examples: Sequence) -> dict[str, np.ndarray]:
        """Model inputs (and label features) of the examples, one row per model input."""

    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        """A one-example batch that builds every variable of the model."""
        return {k: tf.zeros([1, 8], tf.int32) for k in self.model_inputs}

    # ---- scores, results and serving -------------------------------------------------------
    @abc.abstractmethod
    def evaluate(self, trainer: training.Trainer, split: str) -> dict:
        """Scores of a split (`"f1"` or the task's main score under `main_score`), plus what
        `write_results` needs (predictions, probabilities)."""

    main_score: ClassVar[str] = "f1"

    @abc.abstractmethod
    def write_results(self, split: str, scores: dict) -> None:
        """The result files of a split into `results_dir`."""

    def serving_module(self) -> tf.Module:
        """The raw-text SavedModel module (its `__call__` is the serving signature)."""
        raise NotImplementedError(f"the {self.name} task has no SavedModel")

    def predict_texts(self, texts: Sequence[str]) -> list[dict]:
        """Raw-text predictions as JSON-ready dicts, one per text."""
        raise NotImplementedError(f"the {self.name} task does not predict raw text")

    def prediction_document(self, record: dict) -> AnnotatedDocument:
        """One line of --predict_file's output (`{"line": N, **predict_texts(...)[i]}`) as an
        annotated document (the tasks that set `writes_documents`)."""
        raise NotImplementedError(f"the {self.name} task's predictions are not documents")

    # ---- the encoder (BERT; the BiLSTM overrides these) ---------------------------------
    @functools.cached_property
    def init_run_dir(self) -> str | None:
        """--init_checkpoint when it names one of our trained runs."""
        init = self.settings.init_checkpoint
        return init if run_dir.is_run_dir(init) else None

    @functools.cached_property
    def init_weights(self) -> checkpoints.Checkpoint | None:
        """The pretrained weights of --init_checkpoint (not one of our runs)."""
        init = self.settings.init_checkpoint
        if not init or self.init_run_dir or not self.settings.do_train:
            return None
        return checkpoints.read_checkpoint(init, self.settings.bert_config_file)

    def _encoder_dir(self) -> str | None:
        """Where the encoder files of a trained model are: this run's, else the init run's."""
        out = self.settings.output_dir
        if not self.settings.do_train and out and run_dir.is_run_dir(out):
            return out
        init = self.init_run_dir
        if init and not os.path.exists(os.path.join(init, checkpoints.BERT_CONFIG_NAME)):
            raise ValueError(f"--init_checkpoint={init}: a {run_dir.read_record(init)['task']} "
                             "run, which has no BERT encoder to start from")
        return init

    @functools.cached_property
    def bert_config(self) -> BertConfig:
        settings, source = self.settings, self._encoder_dir()
        if settings.bert_config_file:
            config = BertConfig.from_json_file(settings.bert_config_file)
        elif source:
            config = BertConfig.from_json_file(os.path.join(source, checkpoints.BERT_CONFIG_NAME))
        elif self.init_weights is not None:
            config = self.init_weights.config
        else:
            raise ValueError("--init_checkpoint or --bert_config_file is required to train")
        checkpoints.check_positions(config, settings.max_seq_length)
        return config

    @functools.cached_property
    def vocab_file(self) -> str:
        settings, source = self.settings, self._encoder_dir()
        path = settings.vocab_file or (
            os.path.join(source, checkpoints.VOCAB_NAME) if source
            else self.init_weights.vocab_file if self.init_weights is not None else None)
        if not path or not os.path.exists(path):
            raise ValueError(f"no vocab.txt {'at ' + path if path else 'beside --init_checkpoint'}"
                             ": pass --vocab_file")
        checkpoints.check_vocab(self.bert_config, path)
        return path

    @functools.cached_property
    def tokenizer(self) -> BertTokenizer:
        return BertTokenizer(self.vocab_file, do_lower_case=self.settings.do_lower_case)

    def initialize(self) -> None:
        """Sets the fresh model from --init_checkpoint (before the first training step)."""
        if self.init_run_dir:
            self._initialize_from_run(self.init_run_dir)
        elif self.init_weights is not None:
            ignored = checkpoints.assign_weights(self.model.encoder, self.init_weights.weights,
                                                 self.init_weights.source)
            logging.info("encoder initialised from %s (%d variables not used)",
                         self.init_weights.source, len(ignored))
        else:
            logging.warning("no --init_checkpoint: the encoder starts from random weights")

    def _initialize_from_run(self, source: str) -> None:
        """The whole model from a run of the same task whose head fits, else its encoder."""
        path = run_dir.trained_checkpoint(source)
        if run_dir.read_record(source)["task"] == self.name:
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
        logging.info("encoder initialised from %s; the %s head starts fresh", path, self.name)

    def save_encoder_files(self, directory: str) -> None:
        """What reading the model's inputs needs beside its weights (also written beside
        exported SavedModels): bert_config.json and vocab.txt."""
        self.bert_config.to_json_file(os.path.join(directory, checkpoints.BERT_CONFIG_NAME))
        tf.io.gfile.copy(self.vocab_file, os.path.join(directory, checkpoints.VOCAB_NAME),
                         overwrite=True)

    # ---- model and trainer --------------------------------------------------------------
    def build(self, num_train_steps: int = 1, warmup_steps: int = 0) -> training.Trainer:
        """The model (seeded: the same head init for every fold or phase), the optimizer and
        the loop."""
        keras.utils.set_random_seed(self.settings.seed)
        with self.strategy.scope():
            self.model = self.make_model()
            self.model(self.dummy_inputs())
        return training.trainer_for(self.settings, self.strategy,
                                    self.make_objective(self.model), num_train_steps,
                                    warmup_steps, self.xla_default)

    def train(self) -> training.Trainer:
        """Whole epochs over the training examples, resuming from output_dir. With early
        stopping the dev set is scored after every epoch; the best epoch's weights are kept
        (`best/`) and training stops after `early_stopping_patience` epochs without a gain.
        Without it the last step's weights are kept there."""
        s = self.settings
        features = {k: v for k, v in self.features("train").items()
                    if k in self.model_inputs + self.label_features}
        count = len(features[batching.LENGTH_KEY])
        schedule = batching.schedule(count, s.train_batch_size, s.num_train_epochs)
        logging.info("%d training rows (%d examples); %d steps per epoch × %d epochs", count,
                     len(self.examples("train")), schedule.steps_per_epoch, schedule.num_epochs)
        trainer = self.build(schedule.num_train_steps,
                             schedule.warmup_steps(s.warmup_proportion))
        chief = training.is_chief(self.strategy)
        if chief:
            self.save_run_files()
        plan = batching.train_plan(features[batching.LENGTH_KEY].sum(1), s.train_batch_size,
                                   schedule.num_epochs, s.seed)

        def dataset_fn(context, start_step):
            return batching.make_dataset(
                features, plan, context, self.static_shapes, start_step,
                length_multiple=trainer.length_multiple)

        early_stopping = self.early_stopping and "dev" in self.data_files()
        history = self._load_history()
        best = os.path.join(s.output_dir, run_dir.BEST_DIR, "model")
        for epoch in range(schedule.num_epochs):
            trainer.fit(dataset_fn, self.initialize,
                        stop_at=(epoch + 1) * schedule.steps_per_epoch)
            if not early_stopping:
                continue
            if len(history) <= epoch:
                score = self.evaluate(trainer, "dev")[self.main_score]
                history.append(score)
                if score >= max(history) and chief:
                    tf.train.Checkpoint(model=self.model).write(best)
                self._save_history(history)
                logging.info("epoch %d: dev %s %.4f (best %.4f, epoch %d)", epoch + 1,
                             self.main_score, score, max(history),
                             int(np.argmax(history)) + 1)
            if epoch - int(np.argmax(history)) >= s.early_stopping_patience:
                logging.info("early stopping: no dev gain in %d epochs",
                             s.early_stopping_patience)
                break
        if early_stopping:
            tf.train.Checkpoint(model=self.model).read(best).expect_partial()
            logging.info("kept the weights of epoch %d (dev %s %.4f)",
                         int(np.argmax(history)) + 1, self.main_score, max(history))
        elif chief:
            tf.train.Checkpoint(model=self.model).write(best)
        return trainer

    def save_run_files(self) -> None:
        """task.json and the encoder files, so that the run describes itself."""
        out = self.settings.output_dir
        os.makedirs(out, exist_ok=True)
        # Data folders as absolute paths: a later run may start elsewhere.
        folders = {name: os.path.abspath(getattr(self.settings, name)) for name in DATA_SOURCE
                   if name.endswith("_dir") and getattr(self.settings, name)}
        run_dir.write_record(out, self.name, dataclasses.replace(self.settings, **folders),
                             self.model_settings, self.data_settings)
        self.save_encoder_files(out)

    def _load_history(self) -> list[float]:
        path = os.path.join(self.settings.output_dir, HISTORY_FILE)
        if not os.path.exists(path):
            return []
        return [score.number() for score in json_files.load(path, kind=list).items()]

    def _save_history(self, history: list[float]) -> None:
        atomic_files.write_text(os.path.join(self.settings.output_dir, HISTORY_FILE),
                             json.dumps(history))

    def restore(self) -> training.Trainer:
        """A trainer around the trained weights in output_dir (to evaluate or predict)."""
        trainer = self.build()
        run_dir.restore_weights(self.model, self.settings.output_dir)
        return trainer

    # ---- prediction ---------------------------------------------------------------------
    def predict(self, trainer: training.Trainer, features: dict[str, np.ndarray],
                batch_size: int) -> dict[str, np.ndarray]:
        """The objective's prediction outputs for every row, in order; per-batch outputs
        shorter than the sequence length (batches are padded per batch) are zero-padded back."""
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

    def export(self, export_dir: str) -> None:
        """The raw-text SavedModel, with the encoder files and the spec beside it; the folder
        appears at `export_dir` (replacing an earlier export) only once all of it is written."""
        with atomic_files.atomic_directory(export_dir, serving.SAVED_MODEL_FILE) as partial:
            serving.save(self.serving_module(), partial)
            self.save_encoder_files(partial)
            self.save_spec(self.spec, os.path.join(partial, self.spec_file))
        logging.info("exported the %s SavedModel to %s", self.name, export_dir)

    def result_path(self, name: str) -> str:
        return os.path.join(self.results_dir, name)
