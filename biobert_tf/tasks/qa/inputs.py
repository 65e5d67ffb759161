"""QA inputs as TensorFlow ops: (question, context) → Google's strided windows.

The same `QaEncoder` builds training and prediction features and runs inside the exported
SavedModel on raw strings. As Google's run_squad.py: the question is cut to
`max_query_length` pieces; the context is split into windows of
`seq_length - question - 3` pieces starting every `doc_stride` pieces (the last one ends at
the context's end); each window is `[CLS] question [SEP] window [SEP]`. A context piece that
appears in several windows has its *max context* in the one where
`min(pieces to the left, pieces to the right) + 0.01 * window length` is largest (the first
on ties); an answer may only start there. Every position carries the character offsets of its
context piece in the original context (-1 elsewhere), so answers are read from the text
itself, without detokenisation, and whether the piece starts or ends a word (a word is what
Google's BasicTokenizer hands to WordPiece: punctuation characters and CJK ideographs are
words of their own), so that answers are whole words. A window that cuts a word has no word
start or end at its cut.

Training labels: an answer given as a character span is the first context piece ending after
its start through the last piece starting before its end, widened to whole words (the first
piece of its first word through the last piece of its last word); in a window that does not
contain the whole answer both positions are 0 (`[CLS]`), as Google labels them. Google's
`_improve_answer_span` can instead narrow a label to part of a word; whole-word labels are
always spans the decoder can return.
"""

from __future__ import annotations

import tensorflow as tf

from biobert_tf.bert import packing
from biobert_tf.bert.tokenization import BertTokenizer


def _rows(values, row_ids, nrows):
    # validate=False: sorted row ids by construction; the checks TensorFlow would add cost
    # seconds per trace of the encoder (about 5 of a QA encoder's 7).
    return tf.RaggedTensor.from_value_rowids(values, tf.cast(row_ids, tf.int64),
                                             nrows=tf.cast(nrows, tf.int64), validate=False)


class QaEncoder(tf.Module):
    """Questions and contexts [batch] (answer character spans, -1 for none) → windows:
    `token_ids`, `segment_ids`, `padding_mask`, `context_start`, `context_end` (character
    offsets, -1 off the context), `max_context`, `starts_word`, `ends_word` (False off the
    context) [windows, seq_length]; `example` (the input row of each window),
    `start_positions`, `end_positions` [windows]."""

    def __init__(self, tokenizer: BertTokenizer, seq_length: int = 384, doc_stride: int = 128,
                 max_query_length: int = 64):
        super().__init__(name="qa_encoder")
        if seq_length < max_query_length + 4:
            raise ValueError(f"max_seq_length={seq_length} leaves no room for the context after "
                             f"a question of max_query_length={max_query_length} pieces")
        if doc_stride < 1:
            raise ValueError(f"doc_stride must be positive, got {doc_stride}")
        self.tokenizer, self.seq_length = tokenizer, seq_length
        self.doc_stride, self.max_query_length = doc_stride, max_query_length

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2 +
                 [tf.TensorSpec([None], tf.int32)] * 2, autograph=False)
    def __call__(self, questions, contexts, answer_start, answer_end) -> dict[str, tf.Tensor]:
        tok, L = self.tokenizer, self.seq_length
        question = tok.tokenize(questions).token_ids[:, :self.max_query_length]
        context = tok.tokenize(contexts)
        batch = tf.shape(questions)[0]
        nq = tf.cast(question.row_lengths(), tf.int32)
        n = tf.cast(context.token_ids.row_lengths(), tf.int32)
        room = L - nq - 3
        stride = tf.minimum(self.doc_stride, room)
        count = tf.where(n > room, (n - room + stride - 1) // stride + 1, 1)

        k = tf.ragged.range(count)
        example = tf.cast(k.value_rowids(), tf.int32)  # per window
        window = k.flat_values
        start = window * tf.gather(stride, example)
        length = tf.maximum(tf.minimum(tf.gather(n, example) - start, tf.gather(room, example)), 0)

        # Every (window, context piece) pair, and which window gives each piece its max context.
        local = tf.ragged.range(length)
        pair_window = tf.cast(local.value_rowids(), tf.int32)
        offset = local.flat_values
        piece = (tf.gather(tf.cast(context.token_ids.row_starts(), tf.int32),
                           tf.gather(example, pair_window)) +
                 tf.gather(start, pair_window) + offset)
        pair_length = tf.gather(length, pair_window)
        score = tf.cast(100 * tf.minimum(offset, pair_length - 1 - offset) + pair_length,
                        tf.int64)
        key = score * 4096 - tf.cast(tf.gather(window, pair_window), tf.int64)
        best = tf.math.unsorted_segment_max(key, piece, tf.size(context.token_ids.flat_values))
        is_max = tf.equal(key, tf.gather(best, piece))

        windows = tf.shape(example)[0]
        q_rows = tf.gather(question, example)
        question_length = tf.gather(nq, example)
        segment_lengths = [question_length, length]

        def assemble(question_values, context_values, cls_value, sep_value, pad_value):
            segments = [question_values, _rows(context_values, pair_window, windows)]
            return packing.pack_field(segments, L, cls_value, sep_value, pad_value)

        def question_like(value):
            return tf.ones_like(q_rows, tf.int32) * value

        token_ids = assemble(q_rows, tf.gather(context.token_ids.flat_values, piece),
                             tok.cls_id, tok.sep_id, tok.pad_id)
        starts = assemble(question_like(-1),
                          tf.gather(context.start_offsets.flat_values, piece), -1, -1, -1)
        ends = assemble(question_like(-1),
                        tf.gather(context.end_offsets.flat_values, piece), -1, -1, -1)

        def flag(values):
            return assemble(tf.cast(question_like(0), tf.bool), values, False, False, False)

        # A piece ends its word unless the next piece continues it (the next row's first
        # piece never does).
        continues = context.continues_word.flat_values
        starts_word = tf.logical_not(continues)
        ends_word = tf.logical_not(tf.concat([continues[1:], tf.zeros_like(continues[:1])], 0))

        # Training labels: the answer's first and last piece, widened to whole words, if this
        # window holds both.
        piece_row = tf.cast(context.token_ids.value_rowids(), tf.int32)
        index = tf.range(tf.size(context.token_ids.flat_values)) - tf.gather(
            tf.cast(context.token_ids.row_starts(), tf.int32), piece_row)
        word = tf.cumsum(tf.cast(starts_word, tf.int32)) - 1  # flat word number of each piece
        words = tf.reduce_sum(tf.cast(starts_word, tf.int32))
        word_first = tf.gather(tf.math.unsorted_segment_min(index, word, words), word)
        word_last = tf.gather(tf.math.unsorted_segment_max(index, word, words), word)
        first = tf.math.unsorted_segment_min(
            tf.where(context.end_offsets.flat_values > tf.gather(answer_start, piece_row),
                     word_first, 1 << 30), piece_row, batch)
        last = tf.math.unsorted_segment_max(
            tf.where(context.start_offsets.flat_values < tf.gather(answer_end, piece_row),
                     word_last, -1), piece_row, batch)
        has_answer = (answer_start >= 0) & (first <= last)
        a, b = tf.gather(first, example), tf.gather(last, example)
        inside = tf.gather(has_answer, example) & (a >= start) & (b < start + length)
        shift = question_length + 2 - start
        return {
            "token_ids": token_ids,
            "segment_ids": packing.segment_ids(segment_lengths, L),
            "padding_mask": packing.padding_mask(segment_lengths, L),
            "context_start": starts, "context_end": ends,
            "max_context": flag(is_max),
            "starts_word": flag(tf.gather(starts_word, piece)),
            "ends_word": flag(tf.gather(ends_word, piece)),
            "example": example,
            "start_positions": tf.where(inside, a + shift, 0),
            "end_positions": tf.where(inside, b + shift, 0),
        }
