"""Pretrain Sachan et al.'s bidirectional language model on unlabeled biomedical text.

    python -m biobert_tf.tasks.ner.bilstm.bilm --input_file=bioasq_abstracts.txt \
        --ner_file=NCBI-disease/train.tsv,BC2GM/train.tsv --output_dir=bilm \
        --num_train_epochs=5 --train_batch_size=32 --learning_rate=1e-3
    python run_ner.py --model=bilstm_crf --init_bilm_checkpoint=bilm --data_dir=... ...

Text: `--input_file` lines (one abstract, document or sentence per line, as the corpus or
Google's pretraining text; blank lines are skipped), split into words as Google's basic
tokenizer does, and the tokens of `--ner_file` sentences (the labels are not read: only
use training files, never test). Each line is cut into windows of `--max_seq_length` words
(`<s>` and `</s>` included). The word vocabulary is built from the same text
(`--min_count`, `--max_words`, `--lowercase_words`) and saved beside the model with the
architecture, for the tagger to take over. The last `--eval_fraction` of the windows is held
out: `--do_eval` writes their perplexity to eval_results.txt. Training is the shared loop
(checkpoints, resume after a kill, TensorBoard).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import tensorflow as tf
from absl import flags, logging

from biobert_tf.engine import cli
from biobert_tf.engine import batching
from biobert_tf.tasks.ner import inputs as ner_inputs
from biobert_tf.engine import training
from biobert_tf.tasks.ner.bilstm.model import CONFIG_FILE, MODEL_INPUTS, BiLanguageModel, BiLmTask, BiLstmSettings
from biobert_tf.tasks.ner.data import read_conll
from biobert_tf.engine.runner import RunConfig, TaskRunner
from biobert_tf.text_files import utf8_lines
from biobert_tf.bert.tokenization import split_words
from biobert_tf.tasks.ner.bilstm.vocab import VOCAB_FILE, WordVocab

SPLIT_BATCH = 1024  # lines per call of the word splitter


@dataclasses.dataclass
class BiLmRun(BiLstmSettings, RunConfig):
    """The BiLM's settings (the BERT fields of RunConfig are not used)."""

    max_seq_length: int = 64
    input_file: str = ""
    ner_file: str = ""
    min_count: int = 2
    max_words: int = 50000
    eval_fraction: float = 0.02


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


class BiLmRunner(TaskRunner):
    """The BiLM on the shared TaskRunner: word vocab, windows, training, perplexity."""

    task_name = "bilm"
    model_inputs = MODEL_INPUTS

    def setup_encoder(self) -> None:
        run = self.run
        self.sentences = read_sentences(run.input_file, run.ner_file)
        saved = os.path.join(run.output_dir, VOCAB_FILE)
        if os.path.exists(saved):  # a resumed run keeps its vocabulary
            self.vocab = WordVocab.load(saved)
        else:
            self.vocab = WordVocab.build(self.sentences, run.min_count, run.max_words,
                                         run.lowercase_words)
        self.bilstm_config = run.bilstm_config(self.vocab)
        self.featurizer = ner_inputs.WordFeatures(self.vocab)
        logging.info("%d lines of text, %d words; vocabulary of %d words and %d characters",
                     len(self.sentences), sum(map(len, self.sentences)), len(self.vocab),
                     len(self.vocab.chars))

    def save_encoder_files(self, directory: str) -> None:
        self.vocab.save(os.path.join(directory, VOCAB_FILE))
        self.bilstm_config.save(os.path.join(directory, CONFIG_FILE))

    def initialize(self) -> None:
        logging.info("the BiLM starts from random weights")

    def make_model(self) -> BiLanguageModel:
        return BiLanguageModel(self.bilstm_config)

    def make_task(self, model: BiLanguageModel) -> BiLmTask:
        return BiLmTask(model)

    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        return {"token_ids": tf.zeros([1, 8], tf.int32), "padding_mask": tf.ones([1, 8], tf.int32),
                "chars": tf.zeros([1, 8, self.vocab.max_word_chars], tf.int32)}

    def windows(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(training, held-out) windows of the text, `<s> words </s>`, cut every
        max_seq_length - 2 words."""
        span = self.run.max_seq_length - 2
        words = tf.ragged.constant(self.sentences, dtype=tf.string)
        windows = ner_inputs.make_windows(self.featurizer.sentence_pieces(words),
                                          self.featurizer, self.run.max_seq_length, span)
        features = {k: getattr(windows, k).numpy() for k in MODEL_INPUTS}
        held = max(1, int(len(features["token_ids"]) * self.run.eval_fraction))
        return ({k: v[:-held] for k, v in features.items()},
                {k: v[-held:] for k, v in features.items()})

    def evaluate(self, trainer: training.Trainer, features: dict[str, np.ndarray]) -> dict:
        """Loss, perplexity and accuracies over windows (BiLM perplexity = exp(loss))."""
        count, size = len(features["token_ids"]), self.run.eval_batch_size
        plan = [np.arange(i, min(i + size, count)) for i in range(0, count, size)]
        metrics = trainer.evaluate(lambda context: batching.make_dataset(
            features, plan, context, self.static_shapes))
        metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
        return metrics


FLAGS = flags.FLAGS


def define_flags() -> None:
    f = flags
    f.DEFINE_string("input_file", "", "Text files, comma-separated: one document or sentence "
                    "per line.")
    f.DEFINE_string("ner_file", "", "NER tsv files whose sentences are added as text (training "
                    "files only).")
    f.DEFINE_string("output_dir", None, "Checkpoints, the vocabulary and the architecture.")
    f.DEFINE_bool("do_eval", True, "Write the held-out perplexity to eval_results.txt.")
    f.DEFINE_integer("max_seq_length", 64, "Words per window, <s> and </s> included.")
    f.DEFINE_integer("min_count", 2, "Words seen fewer times are <unk>.")
    f.DEFINE_integer("max_words", 50000, "At most this many words (the most frequent).")
    f.DEFINE_float("eval_fraction", 0.02, "Share of the windows held out for perplexity.")
    cli.define_training_flags()
    for name, value in (("do_train", True), ("eval_batch_size", 64), ("learning_rate", 1e-3),
                        ("num_train_epochs", 5.0), ("warmup_proportion", 0.05),
                        ("save_checkpoints_steps", 500), ("iterations_per_loop", 100)):
        FLAGS.set_default(name, value)
    cli.define_bilstm_flags()


def main(argv) -> None:
    del argv
    if not FLAGS.output_dir:
        raise ValueError("--output_dir is required")
    run = BiLmRun.from_flags(FLAGS, data_dir="", init_checkpoint=None)
    runner = BiLmRunner(run, cli.strategy_from_flags(FLAGS))
    train, held_out = runner.windows()
    trainer = (runner.train(train, what="training windows") if FLAGS.do_train
               else runner.restore())
    if FLAGS.do_eval and training.is_chief(runner.strategy):
        metrics = runner.evaluate(trainer, held_out)
        training.write_results(os.path.join(run.output_dir, "eval_results.txt"), metrics)


if __name__ == "__main__":
    define_flags()
    cli.run(main)
