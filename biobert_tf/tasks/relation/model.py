"""BERT relation classification: one head module for every relation-extraction dataset.

`RelationHead` turns the encoder's outputs into one vector per sentence; `RelationModel` adds
dropout and the linear classifier (BioBERT's `output_weights` / `output_bias`), trained with
`classification.ClassificationObjective`. The heads:

- `cls`: the pooled `[CLS]` output (BioBERT).
- `entity_start`: the last-layer states at the two entity starts (marker or placeholder), concatenated.
- `mean_pool` / `max_pool`: mean / max of the last-layer states over the real tokens (padding masked).
- `sll_att`: Su & Vijay-Shanker's attention over the last layer — a learned [H, 1] vector scores
  every token except `[CLS]`, a softmax masked by padding weights the states, and the weighted
  sum is concatenated with the pooled `[CLS]` output.
- `lstm` / `bilstm`: a (bi)directional LSTM over the last-layer tokens after `[CLS]` (padding
  masked); its final state(s) concatenated with the pooled `[CLS]` output.

`RelationClassifier` wraps a trained model with the in-graph `RelationEncoder` for raw
sentences (the SavedModel).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
import tensorflow as tf

from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine.run_dir import SavedDataclass
from biobert_tf.engine.serving import map_in_chunks
from biobert_tf.tasks.relation.inputs import RelationEncoder
from biobert_tf.tasks.relation.metrics import find_negative

HEADS = ("cls", "entity_start", "mean_pool", "max_pool", "sll_att", "lstm", "bilstm")
MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask", "e1_start", "e2_start")
_NEG = -1e9  # added to masked attention scores (float32)


class RelationHead(keras.layers.Layer):
    """Sentence vector for relation classification from `sequence_output` [B, L, H],
    `pooled_output` [B, H], `padding_mask` [B, L] and entity start positions [B]."""

    def __init__(self, kind: str, hidden_size: int, lstm_units: int = 128, **kwargs):
        super().__init__(**kwargs)
        if kind not in HEADS:
            raise ValueError(f"unknown relation head {kind!r}; expected one of {', '.join(HEADS)}")
        self.kind, self.hidden_size, self.lstm_units = kind, hidden_size, lstm_units
        if kind == "sll_att":
            self.attention = self.add_weight(
                shape=(hidden_size, 1), name="attention_vector",
                initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        if kind in ("lstm", "bilstm"):
            lstm = keras.layers.LSTM(lstm_units, name="lstm")
            self.lstm = keras.layers.Bidirectional(lstm, name="bilstm") if kind == "bilstm" else lstm

    def call(self, sequence, pooled, padding_mask, e1_start, e2_start):
        mask = tf.cast(padding_mask, sequence.dtype)[:, :, None]  # [B, L, 1]
        if self.kind == "cls":
            return pooled
        if self.kind == "entity_start":
            starts = tf.stack([e1_start, e2_start], axis=1)  # [B, 2]
            states = tf.gather(sequence, tf.cast(starts, tf.int32), batch_dims=1)  # [B, 2, H]
            return tf.reshape(states, [-1, 2 * tf.shape(sequence)[-1]])
        if self.kind == "mean_pool":
            return tf.reduce_sum(sequence * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
        if self.kind == "max_pool":
            lowest = tf.cast(sequence.dtype.min, sequence.dtype)
            return tf.reduce_max(tf.where(mask > 0, sequence, lowest), 1)
        tokens, token_mask = sequence[:, 1:], padding_mask[:, 1:] > 0  # all but [CLS]
        if self.kind == "sll_att":
            scores = tf.squeeze(tf.matmul(tf.cast(tokens, tf.float32), self.attention), -1)
            weights = tf.nn.softmax(tf.where(token_mask, scores, _NEG))  # [B, L-1]
            summary = tf.einsum("bl,blh->bh", weights, tf.cast(tokens, tf.float32))
            return tf.concat([tf.cast(pooled, tf.float32), summary], -1)
        summary = self.lstm(tokens, mask=token_mask)
        return tf.concat([tf.cast(pooled, summary.dtype), summary], -1)

    def attention_weights(self, sequence, padding_mask):
        """sll_att's weights over the tokens after `[CLS]` [B, L-1] (for inspection and tests)."""
        scores = tf.squeeze(tf.matmul(tf.cast(sequence[:, 1:], tf.float32), self.attention), -1)
        return tf.nn.softmax(tf.where(padding_mask[:, 1:] > 0, scores, _NEG))

    def get_config(self) -> dict:
        return {**super().get_config(), "kind": self.kind, "hidden_size": self.hidden_size,
                "lstm_units": self.lstm_units}


class RelationModel(keras.Model):
    """Encoder → RelationHead → dropout → linear: label scores [B, labels] in float32."""

    def __init__(self, encoder: BertEncoder, num_labels: int, head: str = "cls",
                 dropout: float = 0.1, lstm_units: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.num_labels = encoder, num_labels
        self.head = RelationHead(head, encoder.hidden_dim, lstm_units, name="relation_head")
        self.dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.classifier = keras.layers.Dense(
            num_labels, name="output", dtype="float32",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        outputs = self.encoder({k: inputs[k] for k in ("token_ids", "segment_ids",
                                                       "padding_mask")}, training=training)
        vector = self.head(outputs["sequence_output"], outputs["pooled_output"],
                           inputs["padding_mask"], inputs["e1_start"], inputs["e2_start"])
        return self.classifier(self.dropout(vector, training=training))


@dataclasses.dataclass(frozen=True)
class RelationSpec(SavedDataclass):
    """What a trained relation model is: its labels (negative class first, if any) and how it
    reads sentences. Saved beside the model (run dir and export) as `relation_model.json`.

    `entity_types` names the entities it relates: (X, Y), e1 an X and e2 a Y, or (X,) for pairs
    of one type (DDI's DRUG); empty for a model trained without them (files written before
    these fields load so). `placeholders` are what stood for the entities in the training
    sentences (blinded data, or blind mode): placeholders[i] for entity_types[i]; a one-type
    model blinded with two (the `--placeholders` setting) writes the first for e1, the second
    for e2. Empty when the training sentences kept the mentions.
    """

    labels: tuple[str, ...]
    entity_mode: str
    head: str = "cls"
    lstm_units: int = 128
    entity_types: tuple[str, ...] = ()
    placeholders: tuple[str, ...] = ()

    def __post_init__(self):
        types, placeholders = list(self.entity_types), list(self.placeholders)
        if len(types) > 2 or not all(types):
            raise ValueError(f"entity_types must be one or two names, got {types}")
        if self.placeholders and not 0 < len(types) <= len(placeholders) <= 2:
            raise ValueError(f"placeholders {placeholders} do not fit entity_types {types}")
        if types and self.entity_mode == "blind" and not placeholders:
            raise ValueError(f"a blind model of entity_types {types} needs their placeholders")

    @property
    def negative(self) -> str | None:
        return find_negative(self.labels)

    @property
    def pair_placeholders(self) -> tuple[str, str] | None:
        """The placeholders for e1 and e2 (None when the model reads the mentions)."""
        return (self.placeholders[0], self.placeholders[-1]) if self.placeholders else None


class RelationClassifier(tf.Module):
    """Raw sentences with marked or blinded entities in, label probabilities out, all in
    TensorFlow: the Python prediction path and the SavedModel's `serving_default`.

    Outputs: `probabilities` [batch, labels] (in `labels` order), `label` (the most probable,
    a string) and its `score`, and from the encoder `valid` (the sentence had the markers or
    placeholders its entity mode needs), `num_truncated` and `entities_cut`.
    """

    def __init__(self, model: RelationModel, encoder: RelationEncoder, labels: Sequence[str],
                 batch_rows: int = 64, jit_compile: bool = False):
        super().__init__(name="relation_classifier")
        self.model, self.encoder = model, encoder
        self.labels = tf.constant(list(labels))
        self.batch_rows = batch_rows  # sentences per pass through the model
        self.jit_compile = jit_compile  # the model's part (see serving.map_in_chunks)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def __call__(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        inputs = self.encoder(texts)

        def classify(part):
            return {"logits": self.model(part, training=False)}

        out = map_in_chunks(classify, {k: inputs[k] for k in MODEL_INPUTS}, self.batch_rows,
                            self.encoder.seq_length,
                            {"logits": tf.TensorSpec(self.labels.shape, tf.float32)},
                            self.jit_compile,
                            sequence_keys=["token_ids", "segment_ids", "padding_mask"])
        probabilities = tf.nn.softmax(out["logits"])
        best = tf.argmax(probabilities, -1, output_type=tf.int32)
        return {"probabilities": probabilities, "label": tf.gather(self.labels, best),
                "score": tf.reduce_max(probabilities, -1), "valid": inputs["valid"],
                "num_truncated": inputs["num_truncated"], "entities_cut": inputs["entities_cut"]}
