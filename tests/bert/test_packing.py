"""The `[CLS] a [SEP] (b [SEP])` packer: layout of one and two segments, segment ids and
padding mask, Google's truncation and its report, inner dimensions, empty segments."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.bert import packing
from biobert_tf.bert.packing import truncation_lengths

CLS, SEP, PAD = 101, 102, 0


def ragged(rows, dtype=tf.int32):
    return tf.ragged.constant(rows, dtype=dtype, ragged_rank=1)


def test_two_segments_layout_segment_ids_and_padding_mask():
    a, b = ragged([[1, 2, 3], [4]]), ragged([[5, 6], [7, 8, 9]])
    rows = packing.pack_field([a, b], 10, CLS, SEP, PAD).numpy()
    assert rows.tolist() == [[CLS, 1, 2, 3, SEP, 5, 6, SEP, PAD, PAD],
                             [CLS, 4, SEP, 7, 8, 9, SEP, PAD, PAD, PAD]]
    lengths = [a.row_lengths(), b.row_lengths()]
    assert packing.segment_ids(lengths, 10).numpy().tolist() == [[0] * 5 + [1] * 3 + [0] * 2,
                                                                 [0] * 3 + [1] * 4 + [0] * 3]
    assert packing.padding_mask(lengths, 10).numpy().tolist() == [[1] * 8 + [0] * 2,
                                                                  [1] * 7 + [0] * 3]


def test_one_segment_has_segment_ids_zero():
    a = ragged([[1, 2], [3, 4, 5, 6]])
    rows = packing.pack_field([a], 6, CLS, SEP, PAD).numpy()
    assert rows.tolist() == [[CLS, 1, 2, SEP, PAD, PAD], [CLS, 3, 4, 5, 6, SEP]]
    ids = packing.segment_ids([a.row_lengths()], 6)
    assert ids.dtype == tf.int32 and not ids.numpy().any() and ids.shape == (2, 6)
    assert packing.padding_mask([a.row_lengths()], 6).numpy().sum(1).tolist() == [4, 6]


def test_each_field_keeps_its_dtype_and_special_values():
    flags = ragged([[True, False], []], tf.bool)
    rows = packing.pack_field([flags], 5, False, True, False)
    assert rows.dtype == tf.bool
    assert rows.numpy().tolist() == [[False, True, False, True, False],
                                     [False, True, False, False, False]]
    offsets = packing.pack_field([ragged([[7]], tf.int64)], 4, -1, -1, -1)
    assert offsets.dtype == tf.int64 and offsets.numpy().tolist() == [[-1, 7, -1, -1]]


def test_truncation_is_googles_and_reported_per_row():
    a, b = ragged([[1, 2, 3, 4, 5, 6], [1], [1, 2]]), ragged([[7, 8, 9, 10], [2], []])
    cut = packing.truncation([a.row_lengths(), b.row_lengths()], 8)  # room for 5 pieces
    # Google pops from the longer segment, from the second on ties: 6+4 → 3+2.
    assert [n.numpy().tolist() for n in cut.kept] == [[3, 1, 2], [2, 1, 0]]
    assert cut.num_truncated.dtype == tf.int32
    assert cut.num_truncated.numpy().tolist() == [5, 0, 0]
    kept = [packing.head(s, n) for s, n in zip((a, b), cut.kept)]
    assert kept[0].to_list() == [[1, 2, 3], [1], [1, 2]] and kept[1].to_list() == [[7, 8], [2], []]
    rows = packing.pack_field(kept, 8, CLS, SEP, PAD).numpy()
    assert rows[0].tolist() == [CLS, 1, 2, 3, SEP, 7, 8, SEP]


def test_single_segment_truncation_keeps_the_start():
    cut = packing.truncation([tf.constant([9, 2], tf.int64)], 5)
    assert cut.kept[0].numpy().tolist() == [3, 2] and cut.num_truncated.numpy().tolist() == [6, 0]


def test_no_room_for_text_is_one_clear_error():
    with pytest.raises(ValueError, match="seq_length=3 leaves no room"):
        packing.truncation([tf.constant([1]), tf.constant([1])], 3)


def test_inner_dimensions_are_filled_by_the_special_values():
    chars = tf.RaggedTensor.from_row_lengths(
        tf.constant([[1, 2, 0], [3, 0, 0], [4, 5, 6]], tf.int32), tf.constant([2, 1], tf.int64))
    rows = packing.pack_field([chars], 5, 8, 9, 0)
    assert rows.shape == (2, 5, 3)
    assert rows.numpy()[0].tolist() == [[8, 8, 8], [1, 2, 0], [3, 0, 0], [9, 9, 9], [0, 0, 0]]
    assert rows.numpy()[1].tolist() == [[8, 8, 8], [4, 5, 6], [9, 9, 9], [0, 0, 0], [0, 0, 0]]
    # In a graph the batch is unknown but the inner dimension stays static.
    traced = tf.function(lambda c: packing.pack_field([c], 5, 8, 9, 0)).get_concrete_function(
        tf.RaggedTensorSpec([None, None, 3], tf.int32, ragged_rank=1, row_splits_dtype=tf.int64))
    assert traced.structured_outputs.shape.as_list() == [None, 5, 3]


def test_empty_segments_and_empty_batches():
    a, b = ragged([[], [1]]), ragged([[], []])
    rows = packing.pack_field([a, b], 5, CLS, SEP, PAD).numpy()
    assert rows.tolist() == [[CLS, SEP, SEP, PAD, PAD], [CLS, 1, SEP, SEP, PAD]]
    lengths = [a.row_lengths(), b.row_lengths()]
    assert packing.segment_ids(lengths, 5).numpy().tolist() == [[0, 0, 1, 0, 0], [0, 0, 0, 1, 0]]
    assert packing.padding_mask(lengths, 5).numpy().sum(1).tolist() == [3, 4]

    none = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))
    assert packing.pack_field([none, none], 5, CLS, SEP, PAD).shape == (0, 5)
    no_rows = [none.row_lengths()] * 2
    assert packing.segment_ids(no_rows, 5).shape == (0, 5)
    assert np.shape(packing.padding_mask(no_rows, 5)) == (0, 5)


def test_truncation_lengths_equal_googles_pop_loop():
    def google(a, b, budget):
        while a + b > budget:
            if a > b:
                a -= 1
            else:
                b -= 1
        return a, b

    cases = list(itertools.product(range(14), range(14), range(1, 16)))
    a, b, budget = (np.array(c) for c in zip(*cases))
    kept = [t.numpy() for t in truncation_lengths([tf.constant(a), tf.constant(b)], tf.constant(budget))]
    assert list(zip(*kept)) == [google(*c) for c in cases]
