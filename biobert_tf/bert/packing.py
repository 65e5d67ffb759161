"""`[CLS] a [SEP] (b [SEP])` model rows from ragged segments, as TensorFlow ops.

Every in-graph model row is laid out here: the tokenizer's `pack` (one or two texts, cut
by Google's truncation), NER windows (also of word ids with their character ids, for the
BiLSTM), QA's question + context windows and RE's entity windows. (Pretraining instances
are built in NumPy by tfrecords_tools/instances.py, as Google's algorithm does.)

A *field* is one value per position (token ids, offsets, flags, ...); it has its own
`[CLS]`, `[SEP]` and padding values, and may have inner dimensions (a word's characters),
which those values fill too. A *segment* is ragged [rows, (pieces), inner...]. `pack_field`
expects the segments to fit already: callers cut their own windows, or use `truncation` and
`head` as Google does. `segment_ids` and `padding_mask` follow from the segments' lengths.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import tensorflow as tf


def pack_field(segments: Sequence[tf.RaggedTensor], seq_length: int, cls_value: int | bool,
               sep_value: int | bool, pad_value: int | bool) -> tf.Tensor:
    """One field's rows `[CLS] a [SEP] (b [SEP])`, padded with `pad_value` to `seq_length`.

    `segments` share their rows, dtype, inner shape and (int64) row splits; the result is
    dense [rows, seq_length, inner...] of their dtype.
    """
    first = segments[0]
    rows = first.nrows()
    inner = tf.shape(first.flat_values, out_type=tf.int64)[1:]  # [] or e.g. [max_word_chars]

    def special(value):
        filled = tf.fill(tf.concat([[rows], inner], 0), tf.cast(value, first.dtype))
        return tf.RaggedTensor.from_row_lengths(filled, tf.ones([rows], tf.int64),
                                                validate=False)  # one per row: no check needed

    parts = [special(cls_value)]
    for segment in segments:
        parts += [segment, special(sep_value)]
    shape = [None, seq_length] + first.flat_values.shape[1:].as_list()
    return tf.concat(parts, axis=1).to_tensor(pad_value, shape=shape)


def segment_ids(lengths: Sequence[tf.Tensor], seq_length: int) -> tf.Tensor:
    """[rows, seq_length] int32: 1 over `b [SEP]`, 0 elsewhere (`[CLS] a [SEP]`, padding);
    `lengths` are the segments' row lengths [rows]."""
    if len(lengths) == 1:
        return tf.zeros([tf.size(lengths[0]), seq_length], tf.int32)
    first, second = lengths
    second_start = 2 + first  # after [CLS] a [SEP]
    return tf.cast(~tf.sequence_mask(second_start, seq_length) &
                   tf.sequence_mask(second_start + second + 1, seq_length), tf.int32)


def padding_mask(lengths: Sequence[tf.Tensor], seq_length: int) -> tf.Tensor:
    """[rows, seq_length] int32: 1 over `[CLS]`, the segments and their `[SEP]`s, 0 over
    padding; `lengths` are the segments' row lengths [rows]."""
    return tf.cast(tf.sequence_mask(1 + len(lengths) + tf.add_n(list(lengths)), seq_length),
                   tf.int32)


class Truncation(NamedTuple):
    """What Google's truncation keeps of each segment, and what it drops per row."""

    kept: list[tf.Tensor]  # per segment: [rows] pieces kept
    num_truncated: tf.Tensor  # [rows] int32: pieces dropped over all segments


def truncation(lengths: Sequence[tf.Tensor], seq_length: int) -> Truncation:
    """Google's truncation (`_truncate_seq_pair`) of one or two segments of `lengths` pieces
    to fit `seq_length` with their `[CLS]` and `[SEP]`s; reported, never silent."""
    budget = seq_length - 1 - len(lengths)
    if budget < 1:
        raise ValueError(f"seq_length={seq_length} leaves no room for text")
    kept = truncation_lengths(lengths, budget)
    dropped = tf.add_n(list(lengths)) - tf.add_n(kept)
    return Truncation(kept, tf.cast(dropped, tf.int32))


def truncation_lengths(lengths: Sequence[tf.Tensor], budget: int | tf.Tensor
                       ) -> list[tf.Tensor]:
    """Kept lengths after Google's truncation of one or two segments to `budget` tokens.

    Google pops one token at a time from the longer segment (from the second on ties);
    the closed form below gives the same lengths without the loop.
    """
    if len(lengths) == 1:
        return [tf.minimum(lengths[0], budget)]
    a, b = lengths
    fits = a + b <= budget
    keep_a = tf.where(fits, a, tf.where(b <= budget // 2, budget - b,
                                        tf.where(a <= (budget + 1) // 2, a, (budget + 1) // 2)))
    return [keep_a, tf.where(fits, b, budget - keep_a)]


def head(segment: tf.RaggedTensor, length: tf.Tensor) -> tf.RaggedTensor:
    """The first `length[row]` pieces of each row of `segment`."""
    position = tf.ragged.range(segment.row_lengths())
    return tf.ragged.boolean_mask(segment, position < tf.expand_dims(length, 1))
