"""The BiLSTM architecture settings (Sachan et al.), declared once: the flags of
`run_ner.py --model=bilstm_crf` and of the BiLM (`python -m biobert_tf.tasks.ner.bilstm.bilm`).

A model that starts from a BiLM or from another BiLSTM-CRF run has that model's architecture and
word vocabulary; `adopt_architecture` makes the settings say so (a flag that contradicts it is an
error), so that the run records the architecture its model really has.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TypeVar

from biobert_tf.engine.run_dir import conflict
from biobert_tf.engine.settings import default_of, option
from biobert_tf.tasks.ner.bilstm.model import CONFIG_FILE, BiLstmConfig
from biobert_tf.tasks.ner.bilstm.vocab import VOCAB_FILE, WordVocab

S = TypeVar("S", bound="BiLstmSettings")


@dataclasses.dataclass
class BiLstmSettings:
    """The architecture fields of a settings class (a mixin beside the training settings)."""

    word_embedding_dim: int = option(100, "BiLSTM: word embedding size.")
    char_embedding_dim: int = option(25, "BiLSTM: character embedding size.")
    char_filters: int = option(50, "BiLSTM: filters of the character CNN.")
    lstm_units: int = option(128, "BiLSTM: LSTM units per direction.")
    bilstm_layers: int = option(1, "BiLSTM: LSTM layers per direction (1 or 2).")
    bilstm_dropout: float = option(0.5, "BiLSTM: dropout on the embeddings and between layers.")
    lowercase_words: bool = option(False, "BiLSTM: look words up lower-cased (characters keep "
                                   "their case).")

    def bilstm_config(self, vocab: WordVocab) -> BiLstmConfig:
        """The architecture for a word vocabulary."""
        if self.bilstm_layers not in (1, 2):
            raise ValueError(f"--bilstm_layers must be 1 or 2, got {self.bilstm_layers}")
        return BiLstmConfig(len(vocab.words), len(vocab.chars), self.word_embedding_dim,
                            self.char_embedding_dim, self.char_filters,
                            lstm_units=self.lstm_units, num_layers=self.bilstm_layers,
                            dropout=self.bilstm_dropout)


ARCHITECTURE = tuple(f.name for f in dataclasses.fields(BiLstmSettings))


def architecture_of(config: BiLstmConfig, vocab: WordVocab) -> dict:
    """The settings that give `config` and `vocab`'s word lookup (the inverse of
    `BiLstmSettings.bilstm_config`)."""
    return {"word_embedding_dim": config.word_embedding_dim,
            "char_embedding_dim": config.char_embedding_dim,
            "char_filters": config.char_filters, "lstm_units": config.lstm_units,
            "bilstm_layers": config.num_layers, "bilstm_dropout": config.dropout,
            "lowercase_words": vocab.lowercase}


def adopt_architecture(settings: S, source: str) -> S:
    """`settings` with the architecture of the BiLM or BiLSTM-CRF run in `source`. A field
    left at its default takes the source's value; one set to a third value contradicts the
    source's model, an error naming both. (A flag given with the default value cannot be told
    from an absent one here, and yields to the source.)"""
    theirs = architecture_of(BiLstmConfig.load(os.path.join(source, CONFIG_FILE)),
                             WordVocab.load(os.path.join(source, VOCAB_FILE)))
    defaults = {f.name: default_of(f) for f in dataclasses.fields(BiLstmSettings)}
    for name, value in theirs.items():
        ours = getattr(settings, name)
        if ours not in (value, defaults[name]):
            raise conflict(name, ours, value, f"{source}: {CONFIG_FILE}, {VOCAB_FILE}")
    return dataclasses.replace(settings, **theirs)
