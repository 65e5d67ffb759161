r"""Pretrain Sachan et al.'s bidirectional language model on unlabeled biomedical text.

    python -m biobert_tf.tasks.ner.bilstm.bilm --input_file=bioasq_abstracts.txt \
        --ner_file=NCBI-disease/train.tsv,BC2GM/train.tsv --output_dir=bilm \
        --num_train_epochs=5 --train_batch_size=32 --learning_rate=1e-3
    python -m biobert_tf.tasks.ner.bilstm.bilm --output_dir=bilm --input_file=other.txt \
        --do_train=false        # the held-out perplexity of the trained BiLM on other text
    python run_ner.py --model=bilstm_crf --init_bilm_checkpoint=bilm --data_dir=... ...

Text: `--input_file` lines (one abstract, document or sentence per line, as the corpus or
Google's pretraining text; blank lines are skipped), split into words as Google's basic
tokenizer does, and the tokens of `--ner_file` sentences (the labels are not read: only
use training files, never test). Each line is cut into windows of `--max_seq_length` words
(`<s>` and `</s>` included). The word vocabulary is built from the same text
(`--min_count`, `--max_words`, `--lowercase_words`) and saved beside the model with the
architecture (and task.json), for the tagger to take over; a resumed run keeps its
vocabulary, and an architecture flag that contradicts the trained BiLM's is an error. The
last `--eval_fraction` of the windows is held out: `--do_eval` writes their perplexity to
eval_results.txt. Training is the shared loop (checkpoints, resume after a kill,
TensorBoard).
"""

from __future__ import annotations

if __name__ == "__main__":  # the command line: quiet TensorFlow before it is imported
    from biobert_tf.engine import entry

    entry.quiet_tensorflow()

import dataclasses  # noqa: E402
import functools  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags, logging  # noqa: E402

from biobert_tf.bert.tokenization import split_words  # noqa: E402
from biobert_tf.engine import (  # noqa: E402
    batching, distribute, driver, run_dir, settings as settings_lib, training)
from biobert_tf.engine.settings import TrainingSettings, option  # noqa: E402
from biobert_tf.tasks.ner import inputs as ner_inputs  # noqa: E402
from biobert_tf.tasks.ner.bilstm.model import (  # noqa: E402
    CONFIG_FILE, MODEL_INPUTS, BiLanguageModel, BiLstmConfig, LanguageModelObjective)
from biobert_tf.tasks.ner.bilstm.settings import ARCHITECTURE, BiLstmSettings  # noqa: E402
from biobert_tf.tasks.ner.bilstm.vocab import VOCAB_FILE, WordVocab  # noqa: E402
from biobert_tf.tasks.ner.data import read_conll  # noqa: E402
from biobert_tf.text_files import utf8_lines  # noqa: E402

NAME = "bilm"  # the task of its run directory (task.json)
SPLIT_BATCH = 1024  # lines per call of the word splitter


@dataclasses.dataclass
class BiLmSettings(BiLstmSettings, TrainingSettings):
    """The BiLM's command line: its text and vocabulary, the architecture, and the shared
    loop's settings with the BiLM's own defaults."""

    input_file: str = option("", "Text files, comma-separated: one document or sentence per "
                             "line.")
    ner_file: str = option("", "NER tsv files whose sentences are added as text (training "
                           "files only).")
    max_seq_length: int = option(64, "Words per window, <s> and </s> included.", minimum=3)
    min_count: int = option(2, "Words seen fewer times are <unk>.")
    max_words: int = option(50000, "At most this many words (the most frequent).")
    eval_fraction: float = option(0.02, "Share of the windows held out for perplexity.")
    do_eval: bool = option(True, "Write the held-out perplexity to eval_results.txt.")
    # The shared loop's settings, with the BiLM's defaults.
    output_dir: str | None = option(None, "Checkpoints, the vocabulary and the architecture.")
    do_train: bool = option(True, "Train (false: only evaluate the trained BiLM).")
    eval_batch_size: int = option(64, "Global evaluation batch size.")
    learning_rate: float = option(1e-3, "Peak learning rate of Adam (with weight decay).")
    num_train_epochs: float = option(5.0, "Training epochs (rounded up to whole epochs).")
    warmup_proportion: float = option(0.05, "Share of the steps with linear learning-rate "
                                      "warmup.")
    save_checkpoints_steps: int = option(500, "Steps between checkpoints.")
    iterations_per_loop: int = option(100, "Steps between two log lines (per host call on "
                                      "TPU).")


def read_sentences(input_file: str, ner_file: str) -> list[list[str]]:
    """The words of every non-blank line of the text files and of every NER sentence."""
    sentences = []
    for path in filter(None, input_file.split(",")):
        lines = [line.strip() for _, line in utf8_lines(path) if line.strip()]
        if not lines:
            raise ValueError(f"{path}: no text")
        for i in range(0, len(lines), SPLIT_BATCH):
            words = split_words(tf.constant(lines[i:i + SPLIT_BATCH]), do_lower_case=False)
            sentences += [[w.decode() for w in row] for row in words.to_list()]
    for path in filter(None, ner_file.split(",")):
        sentences += [list(s.tokens) for s in read_conll(path)]
    if not sentences:
        raise ValueError("no text: give --input_file and/or --ner_file")
    return [s for s in sentences if s]


class BiLmPretraining:
    """One run of the BiLM: its text, word vocabulary and windows, the model on the shared
    loop, the held-out perplexity. Each is derived on first use (`validate` reads them all)."""

    def __init__(self, settings: BiLmSettings, strategy: tf.distribute.Strategy):
        self.settings, self.strategy = settings, strategy
        self.static_shapes = isinstance(strategy, tf.distribute.TPUStrategy)
        self.chief = training.is_chief(strategy)
        self.model: BiLanguageModel | None = None

    # ---- text and vocabulary ------------------------------------------------------------
    @functools.cached_property
    def sentences(self) -> list[list[str]]:
        return read_sentences(self.settings.input_file, self.settings.ner_file)

    @functools.cached_property
    def vocab(self) -> WordVocab:
        """Built from the text by a new training run; a resumed or trained run's own."""
        s = self.settings
        if s.do_train and not os.path.exists(os.path.join(s.output_dir, VOCAB_FILE)):
            return WordVocab.build(self.sentences, s.min_count, s.max_words, s.lowercase_words)
        return WordVocab.load(run_dir.trained_run_file(s.output_dir, VOCAB_FILE))

    @functools.cached_property
    def bilstm_config(self) -> BiLstmConfig:
        return self.settings.bilstm_config(self.vocab)

    @functools.cached_property
    def windows(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(training, held-out) windows of the text, `<s> words </s>`, cut every
        max_seq_length - 2 words."""
        s = self.settings
        featurizer = ner_inputs.WordFeatures(self.vocab)
        words = tf.ragged.constant(self.sentences, dtype=tf.string)
        windows = ner_inputs.make_windows(featurizer.sentence_pieces(words), featurizer,
                                          s.max_seq_length, s.max_seq_length - 2)
        features = {k: getattr(windows, k).numpy() for k in MODEL_INPUTS}
        held = max(1, int(len(features["token_ids"]) * s.eval_fraction))
        return ({k: v[:-held] for k, v in features.items()},
                {k: v[-held:] for k, v in features.items()})

    def validate(self) -> None:
        """Reads the text, the vocabulary and the architecture before any training."""
        self.bilstm_config  # noqa: B018
        train, held_out = self.windows
        logging.info("%d lines of text, %d words; vocabulary of %d words and %d characters; "
                     "%d training and %d held-out windows", len(self.sentences),
                     sum(map(len, self.sentences)), len(self.vocab), len(self.vocab.chars),
                     len(train["token_ids"]), len(held_out["token_ids"]))

    # ---- the model and the loop ---------------------------------------------------------
    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        """A one-window batch that builds every variable of the model."""
        return {"token_ids": tf.zeros([1, 8], tf.int32), "padding_mask": tf.ones([1, 8], tf.int32),
                "chars": tf.zeros([1, 8, self.vocab.max_word_chars], tf.int32)}

    def build(self, num_train_steps: int = 1, warmup_steps: int = 0) -> training.Trainer:
        """The model (seeded), the optimizer and the loop."""
        keras.utils.set_random_seed(self.settings.seed)
        with self.strategy.scope():
            self.model = BiLanguageModel(self.bilstm_config)
            self.model(self.dummy_inputs())
        return training.trainer_for(self.settings, self.strategy,
                                    LanguageModelObjective(self.model), num_train_steps,
                                    warmup_steps, distribute.XLA_NEVER)

    def save_run_files(self) -> None:
        """task.json (with the architecture settings), the vocabulary and the architecture:
        what the tagger (--init_bilm_checkpoint) and a resumed run read."""
        out = self.settings.output_dir
        os.makedirs(out, exist_ok=True)
        run_dir.write_record(out, NAME, self.settings, ARCHITECTURE)
        self.vocab.save(os.path.join(out, VOCAB_FILE))
        self.bilstm_config.save(os.path.join(out, CONFIG_FILE))

    def train(self) -> training.Trainer:
        """Whole epochs over the training windows from random weights, resuming from
        --output_dir."""
        s = self.settings
        features, _ = self.windows
        lengths = features[batching.LENGTH_KEY].sum(1)
        schedule = batching.schedule(len(lengths), s.train_batch_size, s.num_train_epochs)
        logging.info("%d training windows; %d steps per epoch × %d epochs", len(lengths),
                     schedule.steps_per_epoch, schedule.num_epochs)
        trainer = self.build(schedule.num_train_steps,
                             schedule.warmup_steps(s.warmup_proportion))
        if self.chief:
            self.save_run_files()
        plan = batching.train_plan(lengths, s.train_batch_size, schedule.num_epochs, s.seed)
        trainer.fit(lambda context, start_step: batching.make_dataset(
            features, plan, context, self.static_shapes, start_step,
            length_multiple=trainer.length_multiple))
        return trainer

    def restore(self) -> training.Trainer:
        """A trainer around the trained weights in --output_dir."""
        trainer = self.build()
        run_dir.restore_weights(self.model, self.settings.output_dir)
        return trainer

    def evaluate(self, trainer: training.Trainer) -> dict[str, float]:
        """Loss, perplexity (exp(loss)) and the accuracies over the held-out windows."""
        _, features = self.windows
        count, size = len(features["token_ids"]), self.settings.eval_batch_size
        plan = [np.arange(i, min(i + size, count)) for i in range(0, count, size)]
        metrics = trainer.evaluate(lambda context: batching.make_dataset(
            features, plan, context, self.static_shapes))
        metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
        return metrics

    def run(self) -> None:
        """validate → train (or restore the trained BiLM) → eval_results.txt."""
        s = self.settings
        self.validate()
        trainer = self.train() if s.do_train else self.restore()
        if s.do_eval:
            metrics = self.evaluate(trainer)
            if self.chief:
                training.write_results(os.path.join(s.output_dir, "eval_results.txt"), metrics)


def settings_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> BiLmSettings:
    """The settings of the command line, with the architecture of the BiLM already trained in
    --output_dir filled in; a flag that contradicts it is an error naming both values."""
    settings = settings_lib.from_flags(BiLmSettings, flag_values)
    out = settings.output_dir
    if not out:
        raise ValueError("--output_dir is required")
    record = run_dir.own_record(out, NAME)
    if record is None:
        return settings
    return run_dir.reconcile(settings, settings_lib.given(BiLmSettings, flag_values), record,
                             out, ARCHITECTURE)


def main(argv: list[str]) -> None:
    """The BiLM command line's main: its settings, then the run."""
    del argv
    settings = settings_from_flags()
    if not (settings.do_train or settings.do_eval):
        raise ValueError("nothing to do: set --do_train and/or --do_eval")
    BiLmPretraining(settings, driver.strategy_for(settings, settings.seed)).run()


if __name__ == "__main__":
    settings_lib.define_flags(BiLmSettings)
    entry.run(main)
