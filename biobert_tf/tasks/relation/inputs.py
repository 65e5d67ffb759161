"""RE inputs as TensorFlow ops: a sentence with marked or blinded entities → model inputs.

The same `RelationEncoder` builds the training features and runs inside the exported
SavedModel on raw sentences, so the two cannot drift apart. Two entity representations
(`--entity_mode`):

- `markers`: each entity is wrapped as `[E1] ... [/E1]`, `[E2] ... [/E2]`, and every marker
  becomes one reserved token: the vocab's first four `[unusedN]` entries, so that Google's
  and BioBERT's checkpoints keep their shapes. `e1_start` / `e2_start` are the positions
  of `[E1]` and `[E2]`.
- `blind`: each entity is an `@NAME$` placeholder (`@GENE$`, `@DISEASE$`), tokenized as
  text as BioBERT does (`@`, `gene`, `$`); e1 and e2 are the first and second placeholder
  of the sentence (one combined placeholder such as `@CHEM-GENE$` stands for both), and an
  entity's start is its placeholder's first piece.

How: before tokenization every marker, and each side of every placeholder, is replaced by a
private-use character (U+E000…U+E003) between spaces. The tokenizer keeps it as a word of
its own (an `[UNK]` piece, found again by that character at its offset), which then becomes
the marker token (markers) or is dropped (blind). Markers and placeholders begin and end
with punctuation, which Google's tokenizer splits off anyway, so no other piece changes.
Those four characters must not occur in the input text.

A sentence longer than the window is not cut at its end, as BioBERT does, but around its
entities: the `seq_length - 2` pieces are centred on the stretch from the first entity's
start to the last entity's end. `num_truncated` counts the pieces left out and
`entities_cut` flags a sentence whose entity stretch is longer than the window.
"""

from __future__ import annotations

import re

import tensorflow as tf

from biobert_tf.bert import packing
from biobert_tf.bert.tokenization import BertTokenizer
from biobert_tf.tasks.relation.data import DEFAULT_MARKERS, PLACEHOLDER_RE

ENTITY_MODES = ("markers", "blind")
SENTINEL = 0xE000  # first private-use code point used for markers
_UNUSED = re.compile(r"^\[unused\d+\]$")
_FAR = 1 << 30


def marker_tokens(vocab: list[str], count: int = len(DEFAULT_MARKERS)) -> list[str]:
    """The reserved `[unusedN]` vocab entries (in id order) that stand for the markers."""
    unused = [token for token in vocab if _UNUSED.match(token)]
    if len(unused) < count:
        raise ValueError(f"the vocab has {len(unused)} [unusedN] entries, {count} are needed "
                         "for the entity markers: use --entity_mode=blind with this vocab")
    return unused[:count]


def has_sentinel(text: str) -> bool:
    """Whether `text` holds one of the private-use characters the encoder reserves."""
    return any(SENTINEL <= ord(c) < SENTINEL + len(DEFAULT_MARKERS) for c in text)


def _row_exclusive_cumsum(values: tf.Tensor, row_starts: tf.Tensor, rows: tf.Tensor
                          ) -> tf.Tensor:
    """Per ragged row: the sum of the values before each position."""
    total = tf.cumsum(values, exclusive=True)
    return total - tf.gather(tf.concat([total, [0]], 0), tf.gather(row_starts, rows))


class RelationEncoder(tf.Module):
    """Sentences (markers or placeholders in the text) → `token_ids`, `segment_ids`,
    `padding_mask` [batch, seq_length], `e1_start`, `e2_start`, `num_truncated` [batch] and
    `entities_cut`, `valid` [batch] (False: the markers or placeholders are not exactly
    the ones the mode needs)."""

    def __init__(self, tokenizer: BertTokenizer, seq_length: int, entity_mode: str):
        super().__init__(name="relation_encoder")
        if entity_mode not in ENTITY_MODES:
            raise ValueError(f"unknown entity mode {entity_mode!r}: expected one of "
                             f"{', '.join(ENTITY_MODES)}")
        if seq_length < 4:
            raise ValueError(f"max_seq_length={seq_length} is too short for a sentence")
        self.tokenizer, self.seq_length, self.entity_mode = tokenizer, seq_length, entity_mode
        self.markers = DEFAULT_MARKERS if entity_mode == "markers" else ()
        ids = {token: i for i, token in enumerate(tokenizer.vocab)}
        self.marker_ids = tf.constant(
            [ids[t] for t in marker_tokens(tokenizer.vocab)] if self.markers else [0], tf.int32)

    def _with_sentinels(self, texts: tf.Tensor) -> tf.Tensor:
        if self.entity_mode == "markers":
            for k, marker in enumerate(self.markers):
                texts = tf.strings.regex_replace(texts, re.escape(marker),
                                                 f" {chr(SENTINEL + k)} ")
            return texts
        return tf.strings.regex_replace(texts, PLACEHOLDER_RE.pattern,
                                        f" {chr(SENTINEL)} \\0 {chr(SENTINEL + 1)} ")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def __call__(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        marked = self._with_sentinels(texts)
        pieces = self.tokenizer.tokenize(marked)
        ids = pieces.token_ids.flat_values
        rows = tf.cast(pieces.token_ids.value_rowids(), tf.int32)
        row_starts = tf.cast(pieces.token_ids.row_starts(), tf.int32)
        batch = tf.shape(texts)[0]
        chars = tf.strings.unicode_decode(marked, "UTF-8", errors="replace")
        first_char = tf.gather(chars.flat_values, tf.gather(chars.row_starts(), rows) +
                               tf.cast(pieces.start_offsets.flat_values, tf.int64))
        kind = first_char - SENTINEL
        kinds = len(self.markers) or 2
        kind = tf.where((kind >= 0) & (kind < kinds), kind, -1)
        position = tf.range(tf.size(ids)) - tf.gather(row_starts, rows)

        if self.markers:
            ids = tf.where(kind >= 0, tf.gather(self.marker_ids, tf.maximum(kind, 0)), ids)
            kept = tf.ones_like(ids, tf.bool)
            # [E1] [/E1] [E2] [/E2]: an entity spans its opening marker to its closing one.
            where = position
            ends_after = 1
        else:
            kept = kind < 0
            # A sentinel's position among the kept pieces is that of the piece after it: the
            # placeholder's first piece (opening side) or the one after it (closing side).
            where = position - _row_exclusive_cumsum(tf.cast(~kept, tf.int32), row_starts, rows)
            ends_after = 0

        def count(k):
            return tf.math.unsorted_segment_sum(tf.cast(kind == k, tf.int32), rows, batch)

        def first(k):
            return tf.math.unsorted_segment_min(tf.where(kind == k, where, _FAR), rows, batch)

        def last(k):
            return tf.math.unsorted_segment_max(tf.where(kind == k, where, -1), rows, batch)

        if self.markers:
            e1_start, e1_end, e2_start, e2_end = (first(0), first(1) + ends_after, first(2),
                                                  first(3) + ends_after)
            valid = tf.reduce_all(tf.stack([count(k) == 1 for k in range(4)]), 0)
        else:
            # One placeholder stands for both entities, two are e1 and e2 in text order.
            e1_start, e1_end, e2_start, e2_end = first(0), first(1), last(0), last(1)
            valid = ((count(0) == 1) | (count(0) == 2)) & (count(1) == count(0))
        valid &= (e1_start < e1_end) & (e2_start < e2_end)

        kept_ids = tf.boolean_mask(ids, kept)
        kept_rows = tf.boolean_mask(rows, kept)
        kept_position = tf.boolean_mask(where, kept)
        n = tf.math.unsorted_segment_sum(tf.ones_like(kept_rows), kept_rows, batch)
        span = self.seq_length - 2
        a = tf.minimum(e1_start, e2_start)
        b = tf.maximum(e1_end, e2_end)
        start = tf.clip_by_value(a - tf.maximum(span - (b - a), 0) // 2, 0,
                                 tf.maximum(n - span, 0))
        start = tf.where(valid, start, 0)
        length = tf.minimum(n - start, span)
        window_start = tf.gather(start, kept_rows)
        inside = (kept_position >= window_start) & (kept_position < window_start + span)
        body = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(kept_ids, inside),
                                                 tf.cast(tf.boolean_mask(kept_rows, inside),
                                                         tf.int64), nrows=tf.cast(batch, tf.int64))
        token_ids = packing.pack_field([body], self.seq_length, self.tokenizer.cls_id,
                                       self.tokenizer.sep_id, self.tokenizer.pad_id)

        def in_window(position):  # +1: [CLS]
            return tf.maximum(tf.minimum(position - start, length - 1), 0) + 1

        return {
            "token_ids": token_ids,
            "segment_ids": packing.segment_ids([length], self.seq_length),
            "padding_mask": packing.padding_mask([length], self.seq_length),
            "e1_start": in_window(e1_start),
            "e2_start": in_window(e2_start),
            "num_truncated": n - length,
            "entities_cut": valid & (b - start > span),
            "valid": valid,
        }
