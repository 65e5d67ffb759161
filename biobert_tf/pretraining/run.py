"""run_pretraining.py: its settings (Google BERT's run_pretraining flags) and its run.

A run reads every input first (the config, the init checkpoint, the vocabulary and the first
record of the training and evaluation data), then trains on the shared loop (checkpoints,
exact resume, TensorBoard) and exports the model in Google's TF1 layout
(`OUTPUT_DIR/tf1/model.ckpt-N` with bert_config.json and vocab.txt, for BioBERT's, Google's
and our fine-tuning scripts), then evaluates into `OUTPUT_DIR/eval_results.txt`. Training
also writes `OUTPUT_DIR/bert_config.json`, so that resuming or evaluating the run needs no
--bert_config_file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

import tensorflow as tf
from absl import logging

from biobert_tf import atomic_files, json_files
from biobert_tf.bert import checkpoints
from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder, BertPretrainer
from biobert_tf.engine import distribute, driver, settings as settings_lib, training
from biobert_tf.engine.settings import LoopSettings, option
from biobert_tf.pretraining import data
from biobert_tf.pretraining.objective import PretrainingObjective

@dataclasses.dataclass
class PretrainingSettings(LoopSettings):
    """Google BERT's run_pretraining flags (names, defaults, meanings) and the runtime ones."""

    input_file: str | None = option(None, "Input TF example files (globs, comma-separated). "
                                    "Required.")
    eval_input_file: str | None = option(None, "Evaluation files (default: --input_file).")
    bert_config_file: str | None = option(
        None, "bert_config.json of the model (default: beside --init_checkpoint, else the one "
        "an earlier training run saved in --output_dir).")
    init_checkpoint: str | None = option(
        None, "Initial checkpoint: a TF1 prefix (Google BERT, BioBERT), an HF directory, a "
        "keras-hub preset, or OUTPUT_DIR/tf1 of an earlier run (phase 2 of two-phase "
        "pretraining: a new --output_dir, its own data, steps and warmup).")
    vocab_file: str | None = option(None, "vocab.txt written beside the exported model "
                                    "(default: beside --init_checkpoint).")
    max_seq_length: int = option(128, "Maximum total input sequence length (as the data was "
                                 "written).", minimum=3)
    max_predictions_per_seq: int = option(20, "Maximum number of masked LM predictions (as "
                                          "the data was written).", minimum=1)
    do_eval: bool = option(False, "Whether to run eval on the dev set.")
    num_train_steps: int = option(100000, "Number of training steps.", minimum=1)
    num_warmup_steps: int = option(10000, "Number of warmup steps.", minimum=0)
    max_eval_steps: int = option(100, "Maximum number of eval steps.", minimum=1)
    # Google's defaults and meanings, not fine-tuning's.
    output_dir: str | None = option(None, "Where checkpoints, summaries, the TF1 export and "
                                    "eval_results.txt go. Required.")
    keep_checkpoint_max: int = option(5, "Checkpoints kept in --output_dir (at least 2: "
                                      "the newest is known good only once the loss after it "
                                      "is seen).")
    seed: int = option(12345, "Seed of weight init and data shuffling.")


def check_usage(settings: PretrainingSettings) -> None:
    """A clear error for a command line that cannot run."""
    for name in ("input_file", "output_dir"):
        if not getattr(settings, name):
            raise ValueError(f"--{name} is required")
    if not (settings.do_train or settings.do_eval):
        raise ValueError("nothing to do: set --do_train and/or --do_eval")


# Flags a run in --output_dir resumes with as it trained: its optimizer state and data
# position mean nothing under others (saved beside the config when training starts).
RESUMED_AS_TRAINED = ("optimizer", "train_batch_size", "gradient_accumulation_steps",
                      "max_seq_length", "max_predictions_per_seq")
RESUME_SETTINGS_NAME = "resume_settings.json"


class Pretraining:
    """One run of run_pretraining.py: its inputs (each read on first use, all of them by
    `validate`), the model and the loop, training with the TF1 export, evaluation."""

    def __init__(self, settings: PretrainingSettings, strategy: tf.distribute.Strategy):
        self.settings, self.strategy = settings, strategy
        self.chief = training.is_chief(strategy)
        self.model: BertPretrainer | None = None

    # ---- inputs -------------------------------------------------------------------------
    @functools.cached_property
    def init_weights(self) -> checkpoints.Checkpoint | None:
        s = self.settings
        return checkpoints.read_checkpoint(s.init_checkpoint, s.bert_config_file) \
            if s.init_checkpoint else None

    @property
    def saved_config_file(self) -> str:
        """The config of the model in --output_dir (written when training starts)."""
        return os.path.join(self.settings.output_dir, checkpoints.BERT_CONFIG_NAME)

    @functools.cached_property
    def bert_config(self) -> BertConfig:
        """--bert_config_file, else --init_checkpoint's, else the one of the run in
        --output_dir."""
        s = self.settings
        if s.bert_config_file:
            config = BertConfig.from_json_file(s.bert_config_file)
        elif self.init_weights is not None:
            config = self.init_weights.config
        elif os.path.exists(self.saved_config_file):
            config = BertConfig.from_json_file(self.saved_config_file)
        else:
            raise ValueError("--bert_config_file or --init_checkpoint is required")
        checkpoints.check_positions(config, s.max_seq_length)
        return config

    @functools.cached_property
    def vocab_file(self) -> str | None:
        s = self.settings
        if s.vocab_file and not os.path.exists(s.vocab_file):
            raise ValueError(f"--vocab_file={s.vocab_file}: no such file")
        path = s.vocab_file or (self.init_weights.vocab_file if self.init_weights else None)
        if path:
            checkpoints.check_vocab(self.bert_config, path)
        return path

    @property
    def eval_input_file(self) -> str:
        return self.settings.eval_input_file or self.settings.input_file

    def validate(self) -> None:
        """Reads every input the settings name, so that a bad one stops the run before any
        training."""
        s = self.settings
        self.bert_config  # noqa: B018 (reads the init checkpoint too; checks the length)
        self.vocab_file  # noqa: B018
        if s.do_train:
            data.check_data_files(s.input_file, s.max_seq_length, s.max_predictions_per_seq,
                                  self.bert_config.vocab_size)
            saved = self.saved_config_file
            if os.path.exists(saved) and BertConfig.from_json_file(saved) != self.bert_config:
                raise ValueError(f"the model of the run in --output_dir ({saved}) is not the one "
                                 "--bert_config_file or --init_checkpoint gives: resume it with "
                                 "its own config, or choose another --output_dir")
            self._check_resume_settings()
        if s.do_eval:
            data.check_data_files(self.eval_input_file, s.max_seq_length,
                                  s.max_predictions_per_seq, self.bert_config.vocab_size)
            if not (s.do_train or self.init_weights is not None or
                    tf.train.latest_checkpoint(s.output_dir)):
                raise ValueError(f"nothing to evaluate: no checkpoint in {s.output_dir} and no "
                                 "--init_checkpoint")

    def _check_resume_settings(self) -> None:
        """One line for a flag of RESUMED_AS_TRAINED that differs from the run's in
        --output_dir."""
        path = os.path.join(self.settings.output_dir, RESUME_SETTINGS_NAME)
        if not os.path.exists(path):
            return
        saved = json_files.load(path).object()
        for name in RESUMED_AS_TRAINED:
            ours = getattr(self.settings, name)
            if name in saved and saved[name] != ours:
                raise ValueError(f"--{name}={ours} contradicts the run in --output_dir, trained "
                                 f"with {name}={saved[name]} ({path}): resume it with that, or "
                                 "choose another --output_dir")

    # ---- the model and the loop ---------------------------------------------------------
    def build(self) -> training.Trainer:
        s = self.settings
        with self.strategy.scope():
            self.model = BertPretrainer(BertEncoder.from_bert_config(self.bert_config))
        return training.trainer_for(s, self.strategy, PretrainingObjective(self.model),
                                    s.num_train_steps, s.num_warmup_steps,
                                    distribute.XLA_ON_CPUS_TOO)

    def dataset(self, context: tf.distribute.InputContext, batch_size: int, input_file: str,
                is_training: bool, start_step: int = 0) -> tf.data.Dataset:
        s = self.settings
        return data.make_dataset(input_file, context.get_per_replica_batch_size(batch_size),
                                 s.max_seq_length, s.max_predictions_per_seq, is_training,
                                 s.seed, context, start_step)

    def train(self, trainer: training.Trainer) -> None:
        """Trains (resuming from --output_dir), then exports the TF1 checkpoint."""
        s = self.settings
        if self.chief:
            os.makedirs(s.output_dir, exist_ok=True)
            self.bert_config.to_json_file(self.saved_config_file)
            atomic_files.write_text(
                os.path.join(s.output_dir, RESUME_SETTINGS_NAME),
                json.dumps({name: getattr(s, name) for name in RESUMED_AS_TRAINED}, indent=1))
        initialize = ((lambda: checkpoints.restore_pretraining_weights(self.model,
                                                                       self.init_weights))
                      if self.init_weights else None)
        step = trainer.fit(lambda context, start_step: self.dataset(
            context, s.train_batch_size, s.input_file, True, start_step), initialize)
        if self.chief:
            # The folder appears whole, replacing an earlier export (of another step).
            export_dir = os.path.join(s.output_dir, "tf1")
            with atomic_files.atomic_directory(export_dir, checkpoints.BERT_CONFIG_NAME) as partial:
                checkpoints.export(self.model, partial, "tf1", self.vocab_file,
                                   checkpoint_name=f"model.ckpt-{step}")
            logging.info("exported step %d in Google's TF1 layout: %s", step,
                         os.path.join(export_dir, f"model.ckpt-{step}"))

    def evaluate(self, trainer: training.Trainer) -> None:
        """eval_results.txt of the trained model, else of the newest checkpoint in
        --output_dir, else of --init_checkpoint."""
        s = self.settings
        if not s.do_train:
            latest = tf.train.latest_checkpoint(s.output_dir)
            if latest:  # with the optimizer: its step is the results' global_step
                with checkpoints.reading_checkpoint(latest):
                    tf.train.Checkpoint(model=self.model, optimizer=trainer.optimizer).restore(
                        latest).expect_partial()
            else:
                checkpoints.restore_pretraining_weights(self.model, self.init_weights)
        results = trainer.evaluate(lambda context: self.dataset(
            context, s.eval_batch_size, self.eval_input_file, False), s.max_eval_steps)
        if self.chief:
            os.makedirs(s.output_dir, exist_ok=True)
            training.write_results(os.path.join(s.output_dir, "eval_results.txt"), results)

    def run(self) -> None:
        """validate → train → evaluate, as the settings ask."""
        self.validate()
        trainer = self.build()
        if self.settings.do_train:
            self.train(trainer)
        if self.settings.do_eval:
            self.evaluate(trainer)


def main(argv: list[str]) -> None:
    """run_pretraining.py's main: the settings of the command line, then the run."""
    del argv
    settings = settings_lib.from_flags(PretrainingSettings)
    check_usage(settings)
    Pretraining(settings, driver.strategy_for(settings, settings.seed)).run()
