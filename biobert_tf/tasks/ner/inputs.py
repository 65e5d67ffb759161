"""NER inputs as TensorFlow ops: words → pieces → overlapping model windows.

The same functions build training batches from tsv sentences and run inside the exported
SavedModel on raw text, so the two paths cannot drift apart. A *featurizer* turns words
into pieces: `WordpieceFeatures` (BERT: WordPiece ids) or `WordFeatures` (the BiLSTM-CRF:
one word id plus the word's character ids per word).

Every word is labelled at its first wordpiece (continuation pieces carry no label). A
sentence longer than `seq_length - 2` pieces is cut into windows `stride` pieces apart;
each piece is *owned* by exactly one window, the one in which it sits closest to the
centre, and a word's prediction is read from the window that owns its first piece. So
every word of every sentence gets exactly one prediction, whatever its length.
"""

from typing import NamedTuple

import tensorflow as tf

from biobert_tf.bert import packing
from biobert_tf.bert.tokenization import BertTokenizer, split_words_with_offsets
from biobert_tf.tasks.ner.bilstm.vocab import WordLookup, WordVocab


class Pieces(NamedTuple):
    """Ragged [sentences, pieces]: piece ids and the sentence word each piece belongs to;
    `chars` [all pieces, max_word_chars] for word-level models."""

    token_ids: tf.RaggedTensor
    word_ids: tf.RaggedTensor
    chars: tf.Tensor | None = None


class NerWindows(NamedTuple):
    """Model windows: `[CLS] pieces [SEP]` padded to `seq_length`."""

    token_ids: tf.Tensor     # [W, L] int32
    segment_ids: tf.Tensor   # [W, L] int32 (all 0)
    padding_mask: tf.Tensor  # [W, L] int32
    sentence: tf.Tensor      # [W] int32: the sentence each window comes from
    word_ids: tf.Tensor      # [W, L] int32: sentence word index at a word's first piece, else -1
    owned: tf.Tensor         # [W, L] bool: this window gives that word's prediction
    chars: tf.Tensor | None = None  # [W, L, max_word_chars] int32 (word-level models)


def word_pieces(tokenizer: BertTokenizer, words: tf.RaggedTensor) -> Pieces:
    """Wordpieces of pre-split words (a tsv sentence), ragged [sentences, words] of strings.

    A word that tokenizes to nothing (only control or zero-width characters) becomes one
    `[UNK]` piece, so that it still gets a prediction instead of vanishing.
    """
    pieces = tokenizer.tokenize(words.flat_values).token_ids  # [all words, pieces]
    empty = tf.cast(pieces.row_lengths() == 0, tf.int64)
    unk = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(empty)], tf.constant(tokenizer.unk_id, tf.int32)), empty)
    pieces = tf.concat([pieces, unk], axis=1)
    word_in_sentence = tf.cast(tf.ragged.range(words.row_lengths()).flat_values, tf.int32)
    piece_word = tf.gather(word_in_sentence, pieces.value_rowids())
    per_sentence = tf.gather(pieces.row_splits, words.row_splits)  # piece splits per sentence
    return Pieces(tf.RaggedTensor.from_row_splits(pieces.flat_values, per_sentence),
                  tf.RaggedTensor.from_row_splits(piece_word, per_sentence))


class TextWords(NamedTuple):
    """Raw-text tokenization: pieces plus each word's character span in the input."""

    pieces: Pieces
    starts: tf.RaggedTensor  # [texts, words] int32 character offsets
    ends: tf.RaggedTensor


def text_pieces(tokenizer: BertTokenizer, texts: tf.Tensor,
                is_continuation: tf.Tensor) -> TextWords:
    """Wordpieces of raw texts, words being Google's basic-tokenizer tokens (punctuation split
    off, as in the NER datasets); `is_continuation[id]` says whether a vocab entry is `##…`."""
    wordpieces = tokenizer.tokenize(texts)
    first = tf.logical_not(tf.gather(is_continuation, wordpieces.token_ids.flat_values))
    word = tf.cumsum(tf.cast(first, tf.int32))
    # Word index within each text: subtract the words of the texts before it.
    splits = wordpieces.token_ids.row_splits
    words_before = tf.gather(tf.concat([[0], word], 0), splits[:-1])
    piece_word = word - 1 - tf.gather(words_before, wordpieces.token_ids.value_rowids())
    piece_word = tf.RaggedTensor.from_row_splits(piece_word, splits)
    words_per_text = tf.gather(tf.concat([[0], word], 0), splits[1:]) - words_before
    flat_word = word - 1  # word index over the whole batch
    count = tf.reduce_sum(words_per_text)
    starts = tf.math.unsorted_segment_min(wordpieces.start_offsets.flat_values, flat_word, count)
    ends = tf.math.unsorted_segment_max(wordpieces.end_offsets.flat_values, flat_word, count)
    return TextWords(Pieces(wordpieces.token_ids, piece_word),
                     tf.RaggedTensor.from_row_lengths(starts, tf.cast(words_per_text, tf.int64)),
                     tf.RaggedTensor.from_row_lengths(ends, tf.cast(words_per_text, tf.int64)))


def continuation_table(vocab: list[str]) -> tf.Tensor:
    """is_continuation[id] for `text_pieces`."""
    return tf.constant([token.startswith("##") for token in vocab])


def make_windows(pieces: Pieces, tokenizer, seq_length: int, stride: int) -> NerWindows:
    """Cuts each sentence's pieces into windows of at most `seq_length - 2` pieces, between
    the `tokenizer`'s (or word vocab's) `cls_id` and `sep_id`, padded with `pad_id`."""
    span = seq_length - 2
    if not 0 < stride <= span:
        raise ValueError(f"the window stride must be in [1, seq_length - 2 = {span}], got {stride}")
    n = tf.cast(pieces.token_ids.row_lengths(), tf.int32)
    num_windows = tf.where(n <= span, 1, (n - span + stride - 1) // stride + 1)
    k = tf.ragged.range(num_windows)  # [sentences, windows]
    last_start = tf.maximum(n - span, 0)
    starts = tf.minimum(k * stride, tf.expand_dims(last_start, 1))
    sentence = tf.cast(k.value_rowids(), tf.int32)
    start = starts.flat_values
    length = tf.minimum(tf.gather(n, sentence) - start, span)
    # Ownership: a piece p belongs to window k iff it is nearer its centre than window k±1's,
    # i.e. 2p >= s[k-1] + s[k] + span (unless k is first) and 2p < s[k] + s[k+1] + span.
    previous = tf.concat([[0], start[:-1]], 0)
    following = tf.concat([start[1:], [0]], 0)
    is_first = tf.equal(k.flat_values, 0)
    is_last = tf.equal(k.flat_values, tf.gather(num_windows, sentence) - 1)

    local = tf.ragged.range(length)  # [windows, pieces] position inside the window
    window_of = local.value_rowids()
    p = local.flat_values + tf.gather(start, window_of)  # position in the sentence
    owned = ((tf.gather(is_first, window_of) |
              (2 * p >= tf.gather(previous + start + span, window_of))) &
             (tf.gather(is_last, window_of) |
              (2 * p < tf.gather(start + following + span, window_of))))
    flat_index = tf.gather(tf.cast(pieces.token_ids.row_starts(), tf.int32),
                           tf.gather(sentence, window_of)) + p
    token_ids = tf.gather(pieces.token_ids.flat_values, flat_index)
    word = tf.gather(pieces.word_ids.flat_values, flat_index)
    previous_word = tf.gather(pieces.word_ids.flat_values, tf.maximum(flat_index - 1, 0))
    starts_word = tf.equal(p, 0) | tf.not_equal(word, previous_word)
    word = tf.where(starts_word, word, -1)

    windows = tf.size(start, tf.int64)

    def window_rows(values, cls_value, sep_value, pad_value):
        pieces_of_window = tf.RaggedTensor.from_value_rowids(values, window_of, nrows=windows)
        return packing.pack_field([pieces_of_window], seq_length, cls_value, sep_value, pad_value)

    chars = (None if pieces.chars is None else
             window_rows(tf.gather(pieces.chars, flat_index), 0, 0, 0))
    return NerWindows(
        token_ids=window_rows(token_ids, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id),
        segment_ids=packing.segment_ids([length], seq_length),
        padding_mask=packing.padding_mask([length], seq_length),
        sentence=sentence,
        word_ids=window_rows(word, -1, -1, -1),
        owned=window_rows(owned, False, False, False),
        chars=chars,
    )


class WordpieceFeatures(tf.Module):
    """BERT's featurizer: a word's pieces are its WordPiece ids."""

    model_inputs = ("token_ids", "segment_ids", "padding_mask", "word_ids")

    def __init__(self, tokenizer: BertTokenizer):
        super().__init__(name="wordpiece_features")
        self.tokenizer = tokenizer
        self.cls_id, self.sep_id, self.pad_id = tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id
        self.is_continuation = continuation_table(tokenizer.vocab)

    def sentence_pieces(self, words: tf.RaggedTensor) -> Pieces:
        return word_pieces(self.tokenizer, words)

    def text_words(self, texts: tf.Tensor) -> TextWords:
        return text_pieces(self.tokenizer, texts, self.is_continuation)


class WordFeatures(tf.Module):
    """The BiLSTM-CRF's featurizer: one piece per word (its word id and character ids); raw
    text is split into words as Google's basic tokenizer does (case kept)."""

    model_inputs = ("token_ids", "chars", "padding_mask", "word_ids")

    def __init__(self, vocab: WordVocab):
        super().__init__(name="word_features")
        self.lookup = WordLookup(vocab)
        self.cls_id, self.sep_id, self.pad_id = vocab.cls_id, vocab.sep_id, vocab.pad_id

    def sentence_pieces(self, words: tf.RaggedTensor) -> Pieces:
        ids, chars = self.lookup(words.flat_values)
        return Pieces(words.with_flat_values(ids),
                      tf.cast(tf.ragged.range(words.row_lengths()), tf.int32), chars)

    def text_words(self, texts: tf.Tensor) -> TextWords:
        words, starts, ends = split_words_with_offsets(texts, do_lower_case=False)
        return TextWords(self.sentence_pieces(words), starts, ends)
