"""Extractive QA: the span model (Google's SQuAD head), its loss, n-best span decoding and the
SavedModel that answers raw (question, context) strings.

`QaModel` is Google's run_squad head: the sequence output → one linear layer with two
outputs, the start and end logits of every position. `SpanObjective`'s loss is the mean of
the start and end cross-entropies. `top_spans` decodes, in TensorFlow, the best `k` answer
spans of every example over all its windows: a span starts at a context position that starts
a word and has its max context in that window, ends at a context position at or after its
start that ends a word, is at most `max_answer_length` pieces long, and scores start logit +
end logit. Google keeps only the 20 best starts and ends before pairing them; here every valid
pair is scored, so the n-best list is the exact one. Answers are whole words (as
`QaEncoder` defines them): Google's decoder accepts any piece, and its `get_final_text` then
keeps the fragment ("dro" of "prodromal"), which BioASQ's exact-match measures count wrong.
The same function serves evaluation and the SavedModel.

An answer's text is its slice of the context with every whitespace run (run_squad.py's
`is_whitespace`: space, tab, CR, LF and U+202F) turned into one space, as Google's final text
joins the context's whitespace-separated tokens with single spaces (`answer_text`, and
`answer_texts` in TensorFlow for `QaAnswerer`).
"""

from __future__ import annotations

import re

import keras
import tensorflow as tf

from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.tasks.qa.inputs import QaEncoder
from biobert_tf.engine.serving import map_in_chunks

MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask")
SPAN_INPUTS = ("context_start", "context_end", "max_context", "starts_word", "ends_word")
# run_squad.py's `is_whitespace` characters, literal: one pattern for Python's re and RE2.
ANSWER_WHITESPACE = "[ \t\r\n\u202f]+"


def answer_text(context: str, start: int, end: int) -> str:
    """The answer text of characters [start, end) of `context` (whitespace runs → " ")."""
    return re.sub(ANSWER_WHITESPACE, " ", context[start:end])


def answer_texts(contexts: tf.Tensor, starts: tf.Tensor, ends: tf.Tensor) -> tf.Tensor:
    """`answer_text` in TensorFlow: [n] contexts and character offsets → [n] answer texts."""
    return tf.strings.regex_replace(
        tf.strings.substr(contexts, starts, ends - starts, unit="UTF8_CHAR"),
        ANSWER_WHITESPACE, " ")


class QaModel(keras.Model):
    """Encoder → linear → (start_logits, end_logits) [batch, seq], float32."""

    def __init__(self, encoder: BertEncoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.span_output = keras.layers.Dense(
            2, name="span_output", dtype="float32",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, inputs: dict, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        hidden = self.encoder({k: inputs[k] for k in MODEL_INPUTS}, training=training)
        logits = self.span_output(hidden["sequence_output"])
        return logits[..., 0], logits[..., 1]


class SpanObjective:
    """Loss: (start cross-entropy + end cross-entropy) / 2 over the global batch; metric:
    how often the argmax of both positions is the labelled span."""

    metric_names = ("span_accuracy",)

    def __init__(self, model: QaModel):
        self.model = model

    def loss_counts(self, batch: dict) -> dict[str, tf.Tensor]:
        return {"examples": tf.shape(batch["start_positions"])[0]}

    def compute(self, batch: dict, counts: dict[str, tf.Tensor], training: bool):
        start_logits, end_logits = self.model(batch, training=training)
        xent = (keras.losses.sparse_categorical_crossentropy(batch["start_positions"],
                                                             start_logits, from_logits=True) +
                keras.losses.sparse_categorical_crossentropy(batch["end_positions"],
                                                             end_logits, from_logits=True)) / 2
        count = tf.cast(tf.shape(xent)[0], tf.float32)
        exact = (tf.equal(tf.argmax(start_logits, -1, output_type=tf.int32),
                          batch["start_positions"]) &
                 tf.equal(tf.argmax(end_logits, -1, output_type=tf.int32),
                          batch["end_positions"]))
        return (tf.reduce_sum(xent) / counts["examples"],
                {"span_accuracy": (tf.reduce_sum(tf.cast(exact, tf.float32)), count)})

    def predict(self, batch: dict) -> dict[str, tf.Tensor]:
        start_logits, end_logits = self.model(batch, training=False)
        return {"start_logits": start_logits, "end_logits": end_logits}


def top_spans(start_logits: tf.Tensor, end_logits: tf.Tensor, windows: dict[str, tf.Tensor],
              num_examples: tf.Tensor, k: int, max_answer_length: int
              ) -> dict[str, tf.RaggedTensor]:
    """The `k` best spans of every example over its windows ([windows, seq] logits and the
    encoder's `context_start`, `context_end`, `max_context`, `starts_word`, `ends_word`,
    `example`). Returns ragged [examples, <= k] `start` / `end` character offsets (end
    exclusive), `score`, `start_logit` and `end_logit`, best first."""
    seq_length = tf.shape(start_logits)[1]
    band = max_answer_length
    # end = start + d for d < max_answer_length: a [windows, seq, band] score grid.
    d = tf.range(band)
    end_index = tf.range(seq_length)[:, None] + d[None, :]
    in_range = end_index < seq_length
    end_index = tf.minimum(end_index, seq_length - 1)
    gathered_end = tf.gather(end_logits, end_index, axis=1)
    # Word starts and ends are context positions only.
    end_ok = tf.gather(windows["ends_word"], end_index, axis=1) & in_range[None]
    start_ok = windows["starts_word"] & windows["max_context"]
    valid = start_ok[:, :, None] & end_ok
    score = tf.where(valid, start_logits[:, :, None] + gathered_end, -float("inf"))
    flat = tf.reshape(score, [tf.shape(score)[0], -1])
    best, index = tf.math.top_k(flat, k=tf.minimum(k, tf.shape(flat)[1]))
    start_pos, end_pos = index // band, index // band + index % band
    keep = tf.math.is_finite(best)
    window = tf.broadcast_to(tf.range(tf.shape(best)[0])[:, None], tf.shape(best))

    def pick(values, positions):
        return tf.gather(values, positions, batch_dims=1)

    candidates = {
        "start": pick(windows["context_start"], start_pos),
        "end": pick(windows["context_end"], end_pos),
        "score": best,
        "start_logit": pick(start_logits, start_pos),
        "end_logit": pick(end_logits, end_pos),
    }
    candidates = {name: tf.boolean_mask(v, keep) for name, v in candidates.items()}
    example = tf.boolean_mask(tf.gather(windows["example"], window), keep)
    # Best first within each example: sort by score, then stably by example.
    order = tf.argsort(candidates["score"], direction="DESCENDING", stable=True)
    order = tf.gather(order, tf.argsort(tf.gather(example, order), stable=True))
    example = tf.gather(example, order)
    rank = tf.ragged.range(tf.math.bincount(example, minlength=num_examples,
                                            maxlength=num_examples)).flat_values
    top = rank < k
    rows = tf.cast(tf.boolean_mask(example, top), tf.int64)
    return {name: tf.RaggedTensor.from_value_rowids(
                tf.boolean_mask(tf.gather(v, order), top), rows,
                nrows=tf.cast(num_examples, tf.int64))
            for name, v in candidates.items()}


class QaAnswerer(tf.Module):
    """Raw questions and contexts in, the best answer spans out, all in TensorFlow (the
    SavedModel's `serving_default`). Outputs [batch, <= num_answers], best first, padded:
    `start` / `end` character offsets into the context (-1 padding), `text`, `probability`
    (softmax over the returned spans' scores), `score` (start + end logit), and
    `num_answers`."""

    def __init__(self, model: QaModel, encoder: QaEncoder, num_answers: int = 20,
                 max_answer_length: int = 30, batch_windows: int = 32, jit_compile: bool = False):
        super().__init__(name="qa_answerer")
        self.model, self.encoder = model, encoder
        self.num_answers, self.max_answer_length = num_answers, max_answer_length
        self.batch_windows = batch_windows
        self.jit_compile = jit_compile  # the model's part (see serving.map_in_chunks)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2, autograph=False)
    def __call__(self, questions: tf.Tensor, contexts: tf.Tensor) -> dict[str, tf.Tensor]:
        none = -tf.ones_like(questions, tf.int32)
        windows = self.encoder(questions, contexts, none, none)

        def logits(part):
            start, end = self.model(part, training=False)
            return {"start_logits": start, "end_logits": end}

        out = map_in_chunks(logits, {k: windows[k] for k in MODEL_INPUTS}, self.batch_windows,
                            self.encoder.seq_length,
                            {"start_logits": tf.TensorSpec([None], tf.float32),
                             "end_logits": tf.TensorSpec([None], tf.float32)},
                            self.jit_compile)
        spans = top_spans(out["start_logits"], out["end_logits"], windows,
                          tf.shape(questions)[0], self.num_answers, self.max_answer_length)
        row = spans["start"].value_rowids()
        start, end = spans["start"].flat_values, spans["end"].flat_values
        text = answer_texts(tf.gather(contexts, row), start, end)
        probability = _ragged_softmax(spans["score"])

        def dense(values, pad):
            return spans["start"].with_flat_values(values).to_tensor(pad)

        return {"start": dense(start, -1), "end": dense(end, -1), "text": dense(text, ""),
                "probability": dense(probability, 0.0),
                "score": dense(spans["score"].flat_values, 0.0),
                "num_answers": tf.cast(spans["start"].row_lengths(), tf.int32)}


def _ragged_softmax(scores: tf.RaggedTensor) -> tf.Tensor:
    """Softmax within each row of a ragged tensor (flat values out)."""
    top = tf.gather(tf.reduce_max(scores, axis=1), scores.value_rowids())
    exp = tf.exp(scores.flat_values - top)
    return exp / tf.gather(tf.reduce_sum(scores.with_flat_values(exp), axis=1),
                           scores.value_rowids())


class YesNoAnswerer(tf.Module):
    """BioASQ yes/no: raw (question, snippet) strings in → `yes_probability` and `answer`
    ("yes" when >= 0.5) per pair, with the packing of training inside (the SavedModel)."""

    def __init__(self, model: keras.Model, tokenizer, seq_length: int):
        super().__init__(name="yesno_answerer")
        self.model, self.tokenizer, self.seq_length = model, tokenizer, seq_length

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2, autograph=False)
    def __call__(self, questions: tf.Tensor, contexts: tf.Tensor) -> dict[str, tf.Tensor]:
        packed = self.tokenizer.pack(self.tokenizer.tokenize(questions),
                                     self.tokenizer.tokenize(contexts), self.seq_length)
        scores = self.model({k: packed[k] for k in MODEL_INPUTS}, training=False)
        yes = tf.nn.softmax(scores)[:, 1]
        return {"yes_probability": yes, "answer": tf.where(yes >= 0.5, "yes", "no"),
                "num_truncated": packed["num_truncated"]}
