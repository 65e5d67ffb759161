"""BERT named-entity recognition: the tagging model, its training task and span decoding.

`NerModel` is BioBERT's head (sequence output → dropout → linear, one score per tag at each
wordpiece) with an optional linear-chain CRF over the words of each window; `TaggingModel`
is that head over any encoder (the BiLSTM-CRF uses it too). Only a word's
first wordpiece is labelled and predicted. `entity_spans` turns word tags into entities with
conlleval's chunk rules, in TensorFlow, so that the exported SavedModel returns the same
entities as the Python path.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from biobert_tf.tasks.ner import inputs as ner_inputs
from biobert_tf.tasks.ner.crf import CRF, allowed_transitions
from biobert_tf.tasks.ner.labels import NerLabels
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine.serving import map_in_chunks


class TaggingModel(keras.Model):
    """Per-position features → dropout → tag scores, plus an optional CRF over the words.
    Subclasses define `features(inputs, training)` → [batch, seq, hidden] (`NerModel`: BERT,
    `bilstm.BiLstmTagger`: BiLSTM)."""

    def __init__(self, labels: NerLabels, use_crf: bool = False, dropout: float = 0.1,
                 **kwargs):
        super().__init__(**kwargs)
        self.labels, self.use_crf = labels, use_crf
        self.dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.classifier = keras.layers.Dense(
            len(labels), name="output", dtype="float32",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        if use_crf:
            # Start and end are left free: a window may begin or end inside an entity.
            start, transitions, end = allowed_transitions(labels.labels, labels.scheme)
            self.crf = CRF(len(labels), allowed=(start | True, transitions, end | True),
                           name="crf")

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        """Tag scores [batch, seq, tags], float32."""
        return self.classifier(self.dropout(self.features(inputs, training), training=training))

    def tag(self, inputs: dict) -> tuple[tf.Tensor, tf.Tensor]:
        """(tag id, its probability) at each word's first piece (`word_ids >= 0`); 0 elsewhere.

        Softmax: argmax and its probability. CRF: the Viterbi path over the window's words and
        each tag's marginal probability.
        """
        scores = self(inputs, training=False)
        first = inputs["word_ids"] >= 0
        if not self.use_crf:
            probs = tf.nn.softmax(scores)
            tags = tf.argmax(probs, -1, output_type=tf.int32)
            confidence = tf.reduce_max(probs, -1)
        else:
            potentials, lengths = compact(scores, first)
            words, _ = self.crf.decode(potentials, lengths)
            marginals = self.crf.marginals(potentials, lengths)
            # Forward-backward rounding can overshoot 1 by a few ulps.
            word_confidence = tf.minimum(tf.gather(marginals, words, batch_dims=2), 1.0)
            tags, confidence = expand(words, first), expand(word_confidence, first)
        zero = tf.zeros_like(confidence)
        return tf.where(first, tags, 0), tf.where(first, confidence, zero)


class NerModel(TaggingModel):
    """BioBERT's tagger: encoder → dropout → per-wordpiece tag scores (+ optional CRF)."""

    def __init__(self, encoder: BertEncoder, labels: NerLabels, use_crf: bool = False,
                 dropout: float = 0.1, **kwargs):
        super().__init__(labels, use_crf, dropout, **kwargs)
        self.encoder = encoder

    def features(self, inputs: dict, training: bool) -> tf.Tensor:
        hidden = self.encoder({k: inputs[k] for k in ("token_ids", "segment_ids",
                                                      "padding_mask")}, training=training)
        return hidden["sequence_output"]


# Compacting keeps the shape (a stable sort, not a boolean mask), so XLA can compile it.
def compact(values: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The masked positions of each row [batch, seq, ...] moved to the front, in order, the
    others after them: (values of the same shape, the number masked per row)."""
    return (tf.gather(values, _masked_first(mask), batch_dims=1),
            tf.reduce_sum(tf.cast(mask, tf.int32), 1))


def _masked_first(mask: tf.Tensor) -> tf.Tensor:
    """Per row, the positions in `mask` in order, then the others in order."""
    return tf.argsort(tf.cast(tf.logical_not(mask), tf.int32), axis=1, stable=True)


def expand(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Inverse of `compact`: values back at the masked positions, zeros elsewhere."""
    restored = tf.gather(values, tf.argsort(_masked_first(mask), axis=1), batch_dims=1)
    return tf.where(mask, restored, tf.zeros_like(restored))


class TaggingObjective:
    """Training loss: token cross-entropy over first pieces, or the CRF negative
    log-likelihood per window; metric: accuracy of the per-piece argmax."""

    metric_names = ("token_accuracy",)

    def __init__(self, model: TaggingModel):
        self.model = model

    def loss_counts(self, batch: dict) -> dict[str, tf.Tensor]:
        if self.model.use_crf:
            return {"windows": tf.shape(batch["word_ids"])[0]}
        return {"words": tf.reduce_sum(tf.cast(batch["word_ids"] >= 0, tf.int32))}

    def compute(self, batch: dict, counts: dict[str, tf.Tensor], training: bool):
        scores = self.model(batch, training=training)
        first = batch["word_ids"] >= 0
        labels = tf.maximum(batch["label_ids"], 0)
        weight = tf.cast(first, tf.float32)
        count = tf.reduce_sum(weight)
        if self.model.use_crf:
            potentials, lengths = compact(scores, first)
            tags, _ = compact(labels, first)
            log_likelihood = self.model.crf.log_likelihood(potentials, tags, lengths)
            loss = -tf.reduce_sum(log_likelihood) / counts["windows"]
        else:
            xent = keras.losses.sparse_categorical_crossentropy(labels, scores, from_logits=True)
            loss = tf.reduce_sum(xent * weight) / tf.maximum(counts["words"], 1.0)
        correct = tf.cast(tf.equal(tf.argmax(scores, -1, output_type=tf.int32), labels),
                          tf.float32)
        return loss, {"token_accuracy": (tf.reduce_sum(correct * weight), count)}

    def predict(self, batch: dict) -> dict[str, tf.Tensor]:
        tags, confidence = self.model.tag(batch)
        return {"tags": tags, "confidence": confidence}


def entity_spans(tags: tf.RaggedTensor, labels: NerLabels) -> dict[str, tf.RaggedTensor]:
    """Entities of word-tag sequences (ragged [sentences, words] tag ids) by conlleval's rules:
    a chunk starts at B/S, or at I/E after O or after another type; it ends before O, B, S or
    a type change, and at E/S. Returns ragged [sentences, entities] of `start` and `end` word
    indices (end exclusive) and `type` ids."""
    prefix = tf.gather(tf.constant(labels.prefixes), tags.flat_values)
    kind = tf.gather(tf.constant(labels.type_ids), tags.flat_values)
    row = tags.value_rowids()
    position = tf.cast(tf.ragged.range(tags.row_lengths()).flat_values, tf.int32)
    previous_prefix = tf.concat([["O"], prefix[:-1]], 0)
    previous_kind = tf.concat([[-1], kind[:-1]], 0)
    next_prefix = tf.concat([prefix[1:], ["O"]], 0)
    next_kind = tf.concat([kind[1:], [-1]], 0)
    row_start = tf.concat([[True], row[1:] != row[:-1]], 0)
    row_end = tf.concat([row[1:] != row[:-1], [True]], 0)
    previous_prefix = tf.where(row_start, "O", previous_prefix)
    next_prefix = tf.where(row_end, "O", next_prefix)

    inside = prefix != "O"
    previous_open = (previous_prefix == "B") | (previous_prefix == "I")
    starts = inside & ((prefix == "B") | (prefix == "S") | ~previous_open |
                       (previous_kind != kind))
    next_continues = ((next_prefix == "I") | (next_prefix == "E")) & (next_kind == kind)
    ends = inside & ((prefix == "E") | (prefix == "S") | ~next_continues)
    starts, ends = tf.reshape(starts, [-1]), tf.reshape(ends, [-1])  # known rank for masking
    # Chunks do not nest: the k-th start of a row pairs with its k-th end.
    start_rows = tf.boolean_mask(row, starts)
    nrows = tags.nrows()
    return {
        "start": tf.RaggedTensor.from_value_rowids(tf.boolean_mask(position, starts),
                                                   start_rows, nrows),
        "end": tf.RaggedTensor.from_value_rowids(tf.boolean_mask(position, ends) + 1,
                                                 tf.boolean_mask(row, ends), nrows),
        "type": tf.RaggedTensor.from_value_rowids(tf.boolean_mask(kind, starts), start_rows,
                                                  nrows),
    }


def merge_windows(tags: tf.Tensor, confidence: tf.Tensor, sentence: tf.Tensor,
                  word_ids: tf.Tensor, owned: tf.Tensor, words_per_sentence: tf.Tensor
                  ) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Window predictions [windows, seq] back to ragged [sentences, words]: each word from the
    window that owns its first piece (exactly one, see ner_inputs)."""
    keep = owned & (word_ids >= 0)
    window = tf.where(keep)[:, 0]
    sentence_of = tf.gather(tf.cast(sentence, tf.int64), window)
    splits = tf.concat([[0], tf.cumsum(tf.cast(words_per_sentence, tf.int64))], 0)
    flat = tf.gather(splits, sentence_of) + tf.cast(tf.boolean_mask(word_ids, keep), tf.int64)
    total = splits[-1:]
    merged_tags = tf.scatter_nd(flat[:, None], tf.boolean_mask(tags, keep), total)
    merged_confidence = tf.scatter_nd(flat[:, None], tf.boolean_mask(confidence, keep), total)
    return (tf.RaggedTensor.from_row_splits(merged_tags, splits),
            tf.RaggedTensor.from_row_splits(merged_confidence, splits))


class NerTagger(tf.Module):
    """Raw text in, entities out, all in TensorFlow: the Python prediction path and the
    SavedModel's `serving_default`.

    Outputs, padded to the most entities in the batch: `start`/`end` character offsets into
    each input text (end exclusive; -1 padding), `type` (string), `score` (the mean
    probability of the entity's word tags), `text` (the entity's characters), and
    `num_entities` per input.
    """

    def __init__(self, model: TaggingModel, featurizer, seq_length: int, stride: int,
                 batch_windows: int = 64, jit_compile: bool = False):
        super().__init__(name="ner_tagger")
        self.model, self.featurizer = model, featurizer  # ner_inputs.Wordpiece/WordFeatures
        self.seq_length, self.stride, self.batch_windows = seq_length, stride, batch_windows
        self.jit_compile = jit_compile  # the model's part (see serving.map_in_chunks)
        self.labels = model.labels
        self.type_names = tf.constant([model.labels.type_name(i)
                                       for i in range(len(model.labels.types))] or [""])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def __call__(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        words = self.featurizer.text_words(texts)
        windows = ner_inputs.make_windows(words.pieces, self.featurizer, self.seq_length,
                                          self.stride)
        tags, confidence = self._tag_in_batches(windows)
        word_tags, word_confidence = merge_windows(
            tags, confidence, windows.sentence, windows.word_ids, windows.owned,
            words.starts.row_lengths())
        spans = entity_spans(word_tags, self.labels)
        row = spans["start"].value_rowids()
        first_word = tf.cast(tf.gather(words.starts.row_starts(), row), tf.int32)
        start_word = spans["start"].flat_values + first_word
        end_word = spans["end"].flat_values + first_word
        start = tf.gather(words.starts.flat_values, start_word)
        end = tf.gather(words.ends.flat_values, end_word - 1)
        word_index = tf.ragged.range(start_word, end_word)
        score = tf.reduce_mean(tf.gather(word_confidence.flat_values, word_index), axis=1)
        text = tf.strings.substr(tf.gather(texts, row), start, end - start, unit="UTF8_CHAR")

        def dense(values, pad):
            return tf.RaggedTensor.from_row_splits(values, spans["start"].row_splits).to_tensor(pad)

        return {"start": dense(start, -1), "end": dense(end, -1),
                "type": dense(tf.gather(self.type_names, spans["type"].flat_values), ""),
                "score": dense(score, 0.0), "text": dense(text, ""),
                "num_entities": tf.cast(spans["start"].row_lengths(), tf.int32)}

    def _tag_in_batches(self, windows) -> tuple[tf.Tensor, tf.Tensor]:
        features = {k: getattr(windows, k) for k in self.featurizer.model_inputs}

        def tag(part):
            tags, confidence = self.model.tag(part)
            return {"tags": tags, "confidence": confidence}

        out = map_in_chunks(tag, features, self.batch_windows, self.seq_length,
                            {"tags": tf.TensorSpec([None], tf.int32),
                             "confidence": tf.TensorSpec([None], tf.float32)}, self.jit_compile)
        return out["tags"], out["confidence"]
