"""Sachan et al.'s BiLSTM-CRF as a `Task` (`run_ner.py --model=bilstm_crf`): the NER task with
words and characters instead of wordpieces, and a word vocabulary and architecture instead of
bert_config.json and vocab.txt.

The vocabulary and architecture come from this run when it predicts or resumes, else from the
model it starts from (a BiLM, `--init_bilm_checkpoint`, or another BiLSTM-CRF run,
`--init_checkpoint`), whose encoder weights initialise the tagger, else from the training words
and the architecture flags.
"""

from __future__ import annotations

import functools
import os

import tensorflow as tf
from absl import logging

from biobert_tf.engine import distribute, run_dir
from biobert_tf.tasks.ner import inputs as ner_inputs
from biobert_tf.tasks.ner.bilstm.model import CONFIG_FILE, BiLstmConfig, BiLstmTagger
from biobert_tf.tasks.ner.bilstm.settings import ARCHITECTURE, adopt_architecture
from biobert_tf.tasks.ner.bilstm.vocab import VOCAB_FILE, WordVocab, read_word_vectors
from biobert_tf.tasks.ner.task import NerSettings, NerTask


def start_dir(settings: NerSettings) -> str | None:
    """The BiLM (--init_bilm_checkpoint) or BiLSTM-CRF run (--init_checkpoint) the model
    starts from, if any."""
    for flag in ("init_bilm_checkpoint", "init_checkpoint"):
        path = getattr(settings, flag)
        if path:
            if not (run_dir.is_run_dir(path) and os.path.isfile(os.path.join(path, VOCAB_FILE))):
                raise ValueError(f"--{flag}={path}: not a trained BiLM or BiLSTM-CRF run (no "
                                 f"task.json, {VOCAB_FILE} or checkpoint there)")
            return path
    return None


class BiLstmNerTask(NerTask):
    """The BiLSTM-CRF tagger: word and character features, always a CRF."""

    name = "ner_bilstm"
    model_settings = ("max_seq_length", "window_stride", "model", *ARCHITECTURE)
    model_inputs = ner_inputs.WordFeatures.model_inputs
    xla_default = distribute.XLA_NEVER  # masked LSTMs: not compiled unless asked

    def __init__(self, settings: NerSettings, strategy: tf.distribute.Strategy):
        # A model that starts from another has its architecture: the settings say so, and the
        # run records it.
        self.start_dir = start_dir(settings)
        if self.start_dir:
            settings = adopt_architecture(settings, self.start_dir)
        super().__init__(settings, strategy)

    def validate(self) -> None:
        super().validate()
        vectors = self.settings.word_vectors
        if vectors and not self.start_dir and not os.path.isfile(vectors):
            raise ValueError(f"--word_vectors={vectors}: no such file")

    # ---- the encoder files: word vocabulary and architecture --------------------------
    @functools.cached_property
    def encoder_dir(self) -> str | None:
        """Where the vocabulary and architecture are: this run's (predicting or resuming),
        else the model's it starts from (None: built from the training data)."""
        out = self.settings.output_dir
        if out and os.path.isfile(os.path.join(out, VOCAB_FILE)):
            return out
        return self.start_dir

    @functools.cached_property
    def vocab(self) -> WordVocab:
        if self.encoder_dir:
            return WordVocab.load(os.path.join(self.encoder_dir, VOCAB_FILE))
        return WordVocab.build((s.tokens for s in self.examples("train")), min_count=1,
                               lowercase=self.settings.lowercase_words)

    @functools.cached_property
    def bilstm_config(self) -> BiLstmConfig:
        if self.encoder_dir:
            return BiLstmConfig.load(os.path.join(self.encoder_dir, CONFIG_FILE))
        return self.settings.bilstm_config(self.vocab)

    def save_encoder_files(self, directory: str) -> None:
        self.vocab.save(os.path.join(directory, VOCAB_FILE))
        self.bilstm_config.save(os.path.join(directory, CONFIG_FILE))

    @functools.cached_property
    def featurizer(self) -> ner_inputs.WordFeatures:
        return ner_inputs.WordFeatures(self.vocab)

    # ---- model -------------------------------------------------------------------------
    def make_model(self) -> BiLstmTagger:
        return BiLstmTagger(self.bilstm_config, self.spec, use_crf=True)

    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        return {"token_ids": tf.zeros([1, 8], tf.int32), "word_ids": tf.zeros([1, 8], tf.int32),
                "padding_mask": tf.ones([1, 8], tf.int32),
                "chars": tf.zeros([1, 8, self.vocab.max_word_chars], tf.int32)}

    def initialize(self) -> None:
        """The encoder (embeddings, char CNN, LSTMs) from the BiLM, or the whole model from a
        BiLSTM-CRF run whose head fits; else word2vec embeddings, else random weights."""
        vectors = self.settings.word_vectors
        if self.start_dir:
            self._initialize_from_run(self.start_dir)
        elif vectors:
            matrix, found = read_word_vectors(vectors, self.vocab,
                                              self.bilstm_config.word_embedding_dim)
            self.model.encoder.word_embedding.embeddings.assign(matrix)
            logging.info("word embeddings: %d of %d words found in %s", found, len(self.vocab),
                         vectors)
        else:
            logging.info("the BiLSTM-CRF starts from random weights")
