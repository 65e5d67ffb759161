"""Masked-LM / next-sentence training instances, by google-research/bert's algorithm.

Same behaviour as Google's `create_pretraining_data.py`, step for step:
- a document is cut into chunks of whole sentences of `target_seq_length` tokens
  (`max_seq_length - 3`, or with `short_seq_prob` a random length in [2, that]);
- segment A is a random number of the chunk's leading sentences; segment B is the
  rest of the chunk or, half of the time (always for a one-sentence chunk), text
  from a random other document, the unused sentences being put back;
- the pair is truncated to `max_seq_length - 3` tokens, one token at a time from
  the longer segment, front or back with equal probability;
- `round(len(tokens) * masked_lm_prob)` tokens (at least 1, at most
  `max_predictions_per_seq`) are chosen in random order among all but [CLS]/[SEP]
  (whole words with `do_whole_word_mask`, skipping a word that would overflow),
  then 80% become [MASK], 10% stay, 10% become a random vocabulary token.

What differs is only how the randomness is drawn: from one NumPy generator, for all
documents or instances at once, instead of Google's Python loops over documents, sentences
and tokens (the slow part of its script). Chunking takes a round per chunk for every
document together; truncation draws how many tokens leave the front binomially instead of
one coin per token; masking visits candidates in the order of random sort keys instead of
a `shuffle`; documents are not shuffled first (B's random document is drawn uniformly, so
their order changes nothing but the stream). The distributions are Google's; its exact
random stream is not reproduced.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

MASK_BATCH = 4096  # instances packed and masked together (bounds the temporaries)



@dataclasses.dataclass
class TokenizedDocuments:
    """Wordpiece ids of some documents, stored flat.

    Document d's sentences start at the token offsets `bounds[first_bound[d]:first_bound[d + 1] - 1]`
    and its last one ends at `bounds[first_bound[d + 1] - 1]`, so any run of consecutive
    sentences is one slice of `tokens`. Documents follow one another in `tokens`, so `bounds`
    is sorted: a chunk's end is found by one `searchsorted` for all documents at once.
    """

    tokens: np.ndarray  # int32 [tokens]
    bounds: np.ndarray  # int64 [sentences + documents]
    first_bound: np.ndarray  # int64 [documents + 1]

    def __len__(self) -> int:
        return len(self.first_bound) - 1

    @property
    def num_sentences(self) -> int:
        return len(self.bounds) - len(self)


@dataclasses.dataclass(frozen=True)
class InstanceOptions:
    """Google's flags for instance creation (same names and defaults)."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    do_whole_word_mask: bool = False

    def __post_init__(self):
        if self.max_seq_length < 5:
            raise ValueError(f"max_seq_length={self.max_seq_length}: need at least 5 "
                             "([CLS] a [SEP] b [SEP])")
        if not 0 < self.masked_lm_prob < 1:
            raise ValueError(f"masked_lm_prob={self.masked_lm_prob} must be in (0, 1)")
        if not 0 <= self.short_seq_prob <= 1:
            raise ValueError(f"short_seq_prob={self.short_seq_prob} must be in [0, 1]")
        if self.max_predictions_per_seq < 1:
            raise ValueError("max_predictions_per_seq must be at least 1")


@dataclasses.dataclass
class Instances:
    """A batch of N instances as padded arrays, in the TFRecord schema's names."""

    input_ids: np.ndarray  # int32 [N, max_seq_length]
    input_mask: np.ndarray  # int32 [N, max_seq_length]
    segment_ids: np.ndarray  # int32 [N, max_seq_length]
    masked_lm_positions: np.ndarray  # int32 [N, max_predictions_per_seq]
    masked_lm_ids: np.ndarray  # int32 [N, max_predictions_per_seq]
    masked_lm_weights: np.ndarray  # float32 [N, max_predictions_per_seq]
    next_sentence_labels: np.ndarray  # int32 [N]; 1 = B is a random next sentence

    def __len__(self) -> int:
        return len(self.input_ids)

    def take(self, indices: np.ndarray) -> "Instances":
        return Instances(**{f.name: getattr(self, f.name)[indices]
                            for f in dataclasses.fields(self)})


def concatenate(batches: Sequence[Instances]) -> Instances:
    return Instances(**{f.name: np.concatenate([getattr(b, f.name) for b in batches])
                        for f in dataclasses.fields(Instances)})


class _Pairs(NamedTuple):
    """Segment pairs as token offsets [start, end) into `TokenizedDocuments.tokens`, before
    truncation; one entry per pair."""

    first_start: np.ndarray
    first_end: np.ndarray
    second_start: np.ndarray
    second_end: np.ndarray
    is_random_next: np.ndarray

    def slice(self, start: int, size: int) -> "_Pairs":
        return _Pairs(*(field[start:start + size] for field in self))


class InstanceMaker:
    """Turns tokenized documents into `Instances`, deterministically for a seed."""

    def __init__(self, vocab: Sequence[str], options: InstanceOptions, seed: int):
        self.options = options
        ids = {token: i for i, token in enumerate(vocab)}
        missing = [t for t in ("[CLS]", "[SEP]", "[MASK]") if t not in ids]
        if missing:
            raise ValueError(f"the vocabulary lacks {', '.join(missing)}, needed for pretraining")
        self.cls_id, self.sep_id, self.mask_id = ids["[CLS]"], ids["[SEP]"], ids["[MASK]"]
        self.vocab_size = len(vocab)
        self.is_continuation = np.array([t.startswith("##") for t in vocab])
        self.rng = np.random.default_rng(seed)

    def make(self, documents: TokenizedDocuments) -> Instances:
        """One pass over the documents (Google runs `dupe_factor` passes)."""
        pairs = self._pairs(documents)
        # Packing and masking in slices bounds their [instances, seq_length] temporaries.
        return concatenate([self._mask(*self._pack(documents.tokens, pairs.slice(start, MASK_BATCH)))
                            for start in range(0, len(pairs.is_random_next), MASK_BATCH)])

    def _pairs(self, documents: TokenizedDocuments) -> _Pairs:
        """Google's chunking of every document into segment pairs, for all documents at once.

        Google walks each document sentence by sentence in Python; here each round of the
        loop makes the next chunk of every document not yet finished, so the rounds are as
        many as the most chunks one document has (a few for an abstract), whatever the
        number of documents.
        """
        rng, bounds = self.rng, documents.bounds
        first, last = documents.first_bound[:-1], documents.first_bound[1:] - 1
        num_documents = len(first)
        max_num_tokens = self.options.max_seq_length - 3
        # One target length per document, as Google draws it.
        target = np.where(rng.random(num_documents) < self.options.short_seq_prob,
                          rng.integers(2, max_num_tokens, num_documents, endpoint=True),
                          max_num_tokens)
        document = np.arange(num_documents)
        start = first  # bound index of the first sentence of each document's next chunk
        rounds = []
        while document.size:
            n = document.size
            # The chunk ends after the first sentence that brings it to the target length,
            # or with the document.
            end = np.minimum(np.searchsorted(bounds, bounds[start] + target, "left"), last[document])
            size = end - start
            # Segment A: a random number of the chunk's leading sentences (all of a
            # one-sentence chunk).
            a_end = start + np.where(size >= 2, rng.integers(1, np.maximum(size, 2)), 1)
            is_random_next = (size == 1) | (rng.random(n) < 0.5)
            # Segment B, if random: sentences of another document, from a random one on,
            # until they reach what A left of the target (at least one sentence).
            other = rng.integers(0, max(num_documents - 1, 1), n)
            other = np.where(num_documents > 1, other + (other >= document), document)
            other_start = first[other] + rng.integers(0, last[other] - first[other])
            other_end = np.clip(np.searchsorted(
                bounds, bounds[other_start] + target - (bounds[a_end] - bounds[start]),
                "left"), other_start + 1, last[other])
            rounds.append(_Pairs(
                bounds[start], bounds[a_end],
                bounds[np.where(is_random_next, other_start, a_end)],
                bounds[np.where(is_random_next, other_end, end)], is_random_next))
            # After a random B, the chunk's unused sentences start the next chunk.
            start = np.where(is_random_next, a_end, end)
            going_on = start < last[document]
            document, start, target = document[going_on], start[going_on], target[going_on]
        if not rounds:
            return _Pairs(*([np.zeros(0, np.int64)] * 4), np.zeros(0, bool))
        return _Pairs(*(np.concatenate(field) for field in zip(*rounds)))

    def _pack(self, tokens: np.ndarray, pairs: _Pairs):
        """[CLS] a [SEP] b [SEP] after Google's random front/back truncation, all rows at once."""
        seq_length = self.options.max_seq_length
        first_start, second_start = pairs.first_start, pairs.second_start
        first_len = pairs.first_end - first_start
        second_len = pairs.second_end - second_start
        keep_first, keep_second = truncation_lengths(first_len, second_len, seq_length - 3)
        # Each removed token leaves the front or the back with probability 1/2.
        first_start = first_start + self.rng.binomial(first_len - keep_first, 0.5)
        second_start = second_start + self.rng.binomial(second_len - keep_second, 0.5)

        # Every position is one lookup in the tokens followed by [CLS], [SEP] and padding (0),
        # in int32: far fewer passes over the [instances, seq_length] arrays than building
        # ids from several masks.
        cls_at, sep_at, pad_at = len(tokens), len(tokens) + 1, len(tokens) + 2
        table = np.concatenate([tokens, [self.cls_id, self.sep_id, 0]]).astype(np.int32)
        position = np.arange(seq_length, dtype=np.int32)[None]
        ka, kb = keep_first[:, None].astype(np.int32), keep_second[:, None].astype(np.int32)
        lengths = keep_first + keep_second + 3
        # Position p holds token p - 1 of A up to ka, then token p - ka - 2 of B.
        source = np.where(position <= ka, (first_start[:, None] - 1).astype(np.int32) + position,
                          (second_start[:, None] - 2).astype(np.int32) - ka + position)
        source[position >= lengths[:, None]] = pad_at
        source[:, 0] = cls_at
        np.put_along_axis(source, ka + 1, sep_at, axis=1)
        np.put_along_axis(source, ka + 2 + kb, sep_at, axis=1)
        segments = ((position >= ka + 2) & (position <= ka + 2 + kb)).astype(np.int32)
        return table[source], segments, lengths, pairs.is_random_next.astype(np.int32)

    def _mask(self, ids: np.ndarray, segments: np.ndarray, lengths: np.ndarray,
              is_random_next: np.ndarray) -> Instances:
        options, rng = self.options, self.rng
        n, seq_length = ids.shape
        predictions = options.max_predictions_per_seq
        position = np.arange(seq_length)
        real = position[None] < lengths[:, None]
        candidate = real & (ids != self.cls_id) & (ids != self.sep_id)
        # Python's round() is round-half-even, like np.rint.
        num_to_predict = np.minimum(predictions, np.maximum(
            1, np.rint(lengths * options.masked_lm_prob).astype(np.int64)))

        if options.do_whole_word_mask:
            masked = self._whole_words_to_mask(ids, candidate, num_to_predict)
        else:
            # Every candidate token is its own group, so Google's "visit in random order,
            # take while it fits" takes the num_to_predict candidates of smallest random key:
            # those at or below a row's num_to_predict-th smallest key. A partial sort finds
            # it 3x faster than sorting the rows. Keys are rng.random's 53 bits made distinct
            # by the position in the low bits, so a row never takes more than it should.
            bits = seq_length.bit_length()
            random_bits = (rng.random(ids.shape) * 2.0**53).astype(np.uint64)
            keys = (random_bits >> np.uint64(max(0, 53 + bits - 64)) << np.uint64(bits)
                    | position.astype(np.uint64))
            keys[~candidate] = np.iinfo(np.uint64).max
            kth = min(predictions, seq_length) - 1
            smallest = np.sort(np.partition(keys, kth, axis=1)[:, :kth + 1], axis=1)
            masked = candidate & (keys <= smallest[np.arange(n), num_to_predict - 1][:, None])
        mask_rows, mask_positions = np.nonzero(masked)  # row by row, positions increasing
        # Each masked position's slot: its rank among its row's masked positions.
        slots = np.arange(len(mask_rows)) - np.searchsorted(mask_rows, mask_rows)
        labels = ids[mask_rows, mask_positions]

        # 80% [MASK], 10% unchanged, 10% a random token of the whole vocabulary.
        choice = rng.random(len(labels))
        input_ids = ids.astype(np.int32)
        input_ids[mask_rows, mask_positions] = np.where(choice < 0.8, self.mask_id, np.where(
            choice < 0.9, labels, rng.integers(0, self.vocab_size, len(labels))))

        # Masked positions in increasing order, padded with zeros (weight 0).
        masked_lm_positions = np.zeros((n, predictions), np.int32)
        masked_lm_ids = np.zeros((n, predictions), np.int32)
        weights = np.zeros((n, predictions), np.float32)
        masked_lm_positions[mask_rows, slots] = mask_positions
        masked_lm_ids[mask_rows, slots] = labels
        weights[mask_rows, slots] = 1.0
        return Instances(input_ids, real.astype(np.int32), segments, masked_lm_positions,
                         masked_lm_ids, weights, is_random_next)

    def _whole_words_to_mask(self, ids: np.ndarray, candidate: np.ndarray,
                             num_to_predict: np.ndarray) -> np.ndarray:
        """Google's whole-word masking: the candidates of whole words (a ## piece joins the
        group of the previous candidate), visited in random order, each taken if it still
        fits in num_to_predict."""
        n = len(ids)
        earlier_candidate = np.cumsum(candidate, axis=1) - candidate > 0
        starts = candidate & ~(self.is_continuation[ids] & earlier_candidate)
        group = np.where(candidate, np.cumsum(starts, axis=1) - 1, -1)
        num_groups = max(int(starts.sum(axis=1).max(initial=0)), 1)
        rows = np.broadcast_to(np.arange(n)[:, None], ids.shape)
        group_size = np.bincount((rows * num_groups + group)[candidate],
                                 minlength=n * num_groups).reshape(n, num_groups)

        order = np.argsort(np.where(group_size > 0, self.rng.random((n, num_groups)), 2.0), axis=1)
        sizes = np.take_along_axis(group_size, order, axis=1)
        taken = np.zeros((n, num_groups), bool)
        used = np.zeros(n, np.int64)
        for k in range(num_groups):
            fits = (sizes[:, k] > 0) & (used + sizes[:, k] <= num_to_predict)
            taken[:, k] = fits
            used += np.where(fits, sizes[:, k], 0)
            # A full row takes nothing more: once every row is full (after about
            # max_predictions_per_seq groups, not the ~seq_length there are), stop.
            if k % 8 == 7 and np.array_equal(used, num_to_predict):
                break
        group_taken = np.zeros((n, num_groups), bool)
        np.put_along_axis(group_taken, order, taken, axis=1)
        return candidate & np.take_along_axis(group_taken, np.maximum(group, 0), axis=1)


def truncation_lengths(first: np.ndarray, second: np.ndarray, budget: int):
    """Kept segment lengths after Google's `truncate_seq_pair` (pop from the longer
    segment, from the second on ties) — the NumPy twin of
    `biobert_tf.bert.packing.truncation_lengths`."""
    fits = first + second <= budget
    keep_first = np.where(fits, first, np.where(
        second <= budget // 2, budget - second,
        np.where(first <= (budget + 1) // 2, first, (budget + 1) // 2)))
    return keep_first, np.where(fits, second, budget - keep_first)
