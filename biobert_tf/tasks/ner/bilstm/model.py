"""Sachan et al. 2018: a BiLSTM-CRF tagger and the bidirectional language model whose weights
initialise it.

Both models share one `SequenceEncoder`: word embeddings and a character CNN (embeddings →
convolution → max over the word's characters) feed a forward LSTM stack and a backward LSTM
stack (1–2 layers each). The stacks are kept apart, as in the language model, where the
forward states must not see the words they predict: the forward LSTM's state at word t
predicts word t+1 and the backward LSTM's predicts word t-1, through one softmax over the
word vocabulary shared by both directions (`BiLanguageModel`). The tagger
(`BiLstmTagger`) concatenates the two stacks' states at each word and adds the NER head and
CRF of `ner.TaggingModel`. Weight transfer is therefore exact: the tagger's encoder has the
language model's encoder's variables, one for one, restored from the language model's
checkpoint (`ner_pipeline.BiLstmNerRunner`); the output layer and CRF start fresh.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from biobert_tf.engine.run_dir import SavedDataclass
from biobert_tf.tasks.ner.labels import NerLabels
from biobert_tf.tasks.ner.model import TaggingModel

CONFIG_FILE = "bilstm_config.json"
MODEL_INPUTS = ("token_ids", "chars", "padding_mask")


@dataclasses.dataclass(frozen=True)
class BiLstmConfig(SavedDataclass):
    """The architecture (sizes per direction for the LSTMs)."""

    vocab_size: int
    num_chars: int
    word_embedding_dim: int = 100
    char_embedding_dim: int = 25
    char_filters: int = 50
    char_kernel_size: int = 3
    lstm_units: int = 128
    num_layers: int = 1
    dropout: float = 0.5


class SequenceEncoder(keras.layers.Layer):
    """(word ids [B, T], char ids [B, T, C], padding mask [B, T]) → forward and backward
    LSTM states [B, T, lstm_units] each (zeros at padding)."""

    def __init__(self, config: BiLstmConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.word_embedding = keras.layers.Embedding(config.vocab_size,
                                                     config.word_embedding_dim,
                                                     name="word_embedding")
        self.char_embedding = keras.layers.Embedding(config.num_chars,
                                                     config.char_embedding_dim,
                                                     name="char_embedding")
        self.char_cnn = keras.layers.Conv1D(config.char_filters, config.char_kernel_size,
                                            padding="same", activation="tanh", name="char_cnn")
        self.dropout = keras.layers.Dropout(config.dropout)
        # One attribute per LSTM: TF checkpoints do not see layers kept in a list.
        for direction in ("forward", "backward"):
            for i in range(config.num_layers):
                setattr(self, f"{direction}_lstm_{i}", keras.layers.LSTM(
                    config.lstm_units, return_sequences=True, name=f"{direction}_lstm_{i}"))

    def _lstms(self, direction: str) -> list:
        return [getattr(self, f"{direction}_lstm_{i}") for i in range(self.config.num_layers)]

    def call(self, token_ids, chars, padding_mask, training=False):
        mask = padding_mask > 0
        batch, steps = tf.shape(chars)[0], tf.shape(chars)[1]
        # Character CNN over each word, max over its real characters.
        flat = tf.reshape(chars, [-1, tf.shape(chars)[2]])
        conv = self.char_cnn(self.char_embedding(flat))
        conv = tf.where((flat > 0)[:, :, None], conv, tf.cast(-1e4, conv.dtype))
        char_features = tf.maximum(tf.reduce_max(conv, 1), -1.0)  # a word of no chars: -1
        char_features = tf.reshape(char_features, [batch, steps, self.config.char_filters])
        x = tf.concat([self.word_embedding(token_ids), char_features], -1)
        x = self.dropout(x, training=training)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), 1)

        def run(lstms, inputs, backward):
            # The backward stack reads each sentence reversed within its length.
            h = tf.reverse_sequence(inputs, lengths, 1, 0) if backward else inputs
            for i, lstm in enumerate(lstms):
                if i:
                    h = self.dropout(h, training=training)
                h = lstm(h, mask=mask, training=training)
            h = tf.reverse_sequence(h, lengths, 1, 0) if backward else h
            return tf.where(mask[:, :, None], h, tf.zeros_like(h))

        return run(self._lstms("forward"), x, False), run(self._lstms("backward"), x, True)


class BiLstmTagger(TaggingModel):
    """Sachan et al.'s tagger: SequenceEncoder → [forward; backward] → dropout → tag scores →
    CRF (the NER head of `ner.TaggingModel`)."""

    def __init__(self, config: BiLstmConfig, labels: NerLabels, use_crf: bool = True,
                 **kwargs):
        super().__init__(labels, use_crf, config.dropout, **kwargs)
        self.encoder = SequenceEncoder(config, name="encoder")

    def features(self, inputs: dict, training: bool) -> tf.Tensor:
        forward, backward = self.encoder(inputs["token_ids"], inputs["chars"],
                                         inputs["padding_mask"], training=training)
        return tf.concat([forward, backward], -1)


class BiLanguageModel(keras.Model):
    """SequenceEncoder + one softmax over the word vocabulary for both directions: logits of
    the next word (forward states) and of the previous word (backward states)."""

    def __init__(self, config: BiLstmConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = SequenceEncoder(config, name="encoder")
        self.dropout = keras.layers.Dropout(config.dropout)
        self.softmax = keras.layers.Dense(config.vocab_size, name="softmax", dtype="float32")
        self.softmax.build((None, config.lstm_units))  # call() returns states, not logits

    def call(self, inputs: dict, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        forward, backward = self.encoder(inputs["token_ids"], inputs["chars"],
                                         inputs["padding_mask"], training=training)
        return forward, backward

    def next_word_logits(self, states: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.softmax(self.dropout(states, training=training))


class LanguageModelObjective:
    """The BiLM's `training.Objective`. Loss: the mean of the forward (next word) and
    backward (previous word) cross-entropy over the real words of the global batch, softmax
    over the whole vocabulary; metrics: the two directions' accuracy."""

    metric_names = ("forward_accuracy", "backward_accuracy")

    def __init__(self, model: BiLanguageModel):
        self.model = model

    def loss_counts(self, batch: dict) -> dict[str, tf.Tensor]:
        return {"pairs": tf.reduce_sum(tf.cast(_neighbours(batch), tf.int32))}

    def compute(self, batch: dict, counts: dict[str, tf.Tensor], training: bool):
        forward, backward = self.model(batch, training=training)
        ids, pair = batch["token_ids"], _neighbours(batch)
        total, metrics = 0.0, {}
        count = tf.reduce_sum(tf.cast(pair, tf.float32))
        for name, states, targets in (("forward", forward[:, :-1], ids[:, 1:]),
                                      ("backward", backward[:, 1:], ids[:, :-1])):
            states, targets = tf.boolean_mask(states, pair), tf.boolean_mask(targets, pair)
            logits = self.model.next_word_logits(states, training=training)
            xent = keras.losses.sparse_categorical_crossentropy(targets, logits,
                                                                from_logits=True)
            total += tf.reduce_sum(xent)
            correct = tf.equal(tf.argmax(logits, -1, output_type=targets.dtype), targets)
            metrics[f"{name}_accuracy"] = (tf.reduce_sum(tf.cast(correct, tf.float32)), count)
        return total / (2.0 * tf.maximum(counts["pairs"], 1.0)), metrics


def _neighbours(batch: dict) -> tf.Tensor:
    """[batch, seq - 1]: whether words t and t+1 are both real. Position t (forward) predicts
    t+1; position t+1 (backward) predicts t."""
    mask = batch["padding_mask"] > 0
    return mask[:, 1:] & mask[:, :-1]

