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

What differs is only how the randomness is drawn. The sentence-level control flow
uses Python's `random.Random` as Google does; truncation and masking are done for
a whole batch of instances at once with NumPy (a binomial draw of how many tokens
leave the front instead of one coin per token; random sort keys instead of
`shuffle`), which gives the same distributions but not Google's exact random
stream. That is where the speed comes from: Google's per-token Python loops are
the slow part of its script.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Sequence

import numpy as np

MASK_BATCH = 4096  # instances packed and masked together (bounds the temporaries)



@dataclasses.dataclass
class TokenizedDocuments:
    """Wordpiece ids of some documents, stored flat.

    `sentences[d]` lists the offsets into `tokens` where document d's sentences
    start, followed by where its last one ends, so any run of consecutive sentences
    is one slice of `tokens` (plain ints: the per-sentence control flow is Python).
    """

    tokens: np.ndarray
    sentences: list[list[int]]

    def __len__(self) -> int:
        return len(self.sentences)


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


@dataclasses.dataclass
class _Pairs:
    """Segment pairs as slices of `TokenizedDocuments.tokens`, before truncation."""

    first_start: list[int] = dataclasses.field(default_factory=list)
    first_end: list[int] = dataclasses.field(default_factory=list)
    second_start: list[int] = dataclasses.field(default_factory=list)
    second_end: list[int] = dataclasses.field(default_factory=list)
    is_random_next: list[bool] = dataclasses.field(default_factory=list)

    def slice(self, start: int, size: int) -> "_Pairs":
        return _Pairs(*(getattr(self, f.name)[start:start + size]
                        for f in dataclasses.fields(self)))

    def add(self, first: tuple[int, int], second: tuple[int, int], is_random_next: bool) -> None:
        self.first_start.append(first[0])
        self.first_end.append(first[1])
        self.second_start.append(second[0])
        self.second_end.append(second[1])
        self.is_random_next.append(is_random_next)


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
        self.py_rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)

    def make(self, documents: TokenizedDocuments) -> Instances:
        """One pass over the documents (Google runs `dupe_factor` passes)."""
        pairs = _Pairs()
        for index in range(len(documents)):
            self._document_pairs(documents.sentences, index, pairs)
        # Packing and masking in slices bounds their [instances, seq_length] temporaries.
        return concatenate([self._mask(*self._pack(documents.tokens, pairs.slice(start, MASK_BATCH)))
                            for start in range(0, len(pairs.is_random_next), MASK_BATCH)])

    def _document_pairs(self, documents: list[list[int]], index: int, pairs: _Pairs) -> None:
        rng = self.py_rng
        bounds = documents[index]  # sentence i is tokens[bounds[i]:bounds[i + 1]]
        num_sentences = len(bounds) - 1
        max_num_tokens = self.options.max_seq_length - 3
        target_length = max_num_tokens
        if rng.random() < self.options.short_seq_prob:
            target_length = rng.randint(2, max_num_tokens)
        chunk_start = 0  # first sentence of the current chunk
        i = 0
        while i < num_sentences:
            chunk_size = i + 1 - chunk_start
            if i == num_sentences - 1 or bounds[i + 1] - bounds[chunk_start] >= target_length:
                a_end = chunk_start + (rng.randint(1, chunk_size - 1) if chunk_size >= 2 else 1)
                first = (bounds[chunk_start], bounds[a_end])
                if chunk_size == 1 or rng.random() < 0.5:
                    second = self._random_next(documents, index, target_length - (first[1] - first[0]))
                    i = a_end - 1  # the unused sentences go back to the document
                    pairs.add(first, second, True)
                else:
                    pairs.add(first, (bounds[a_end], bounds[i + 1]), False)
                chunk_start = i + 1
            i += 1

    def _random_next(self, documents: list[list[int]], index: int, target: int) -> tuple[int, int]:
        rng = self.py_rng
        for _ in range(10):  # as Google: give up avoiding the same document after 10 tries
            other = rng.randint(0, len(documents) - 1)
            if other != index:
                break
        bounds = documents[other]
        start = rng.randint(0, len(bounds) - 2)
        end = start + 1
        while bounds[end] - bounds[start] < target and end < len(bounds) - 1:
            end += 1
        return bounds[start], bounds[end]

    def _pack(self, tokens: np.ndarray, pairs: _Pairs):
        """[CLS] a [SEP] b [SEP] after Google's random front/back truncation, all rows at once."""
        seq_length = self.options.max_seq_length
        first_start, second_start = np.array(pairs.first_start), np.array(pairs.second_start)
        first_len = np.array(pairs.first_end) - first_start
        second_len = np.array(pairs.second_end) - second_start
        keep_first, keep_second = truncation_lengths(first_len, second_len, seq_length - 3)
        # Each removed token leaves the front or the back with probability 1/2.
        first_start = first_start + self.np_rng.binomial(first_len - keep_first, 0.5)
        second_start = second_start + self.np_rng.binomial(second_len - keep_second, 0.5)

        position = np.arange(seq_length)[None]
        ka, kb = keep_first[:, None], keep_second[:, None]
        in_first = (position >= 1) & (position <= ka)
        in_second = (position >= ka + 2) & (position < ka + 2 + kb)
        source = np.where(in_first, first_start[:, None] + position - 1,
                          np.where(in_second, second_start[:, None] + position - ka - 2, 0))
        ids = np.where(in_first | in_second, tokens[source], 0)
        ids = np.where((position == ka + 1) | (position == ka + 2 + kb), self.sep_id, ids)
        ids[:, 0] = self.cls_id
        segments = ((position >= ka + 2) & (position <= ka + 2 + kb)).astype(np.int32)
        lengths = keep_first + keep_second + 3
        return ids.astype(np.int32), segments, lengths, np.array(pairs.is_random_next, np.int32)

    def _mask(self, ids: np.ndarray, segments: np.ndarray, lengths: np.ndarray,
              is_random_next: np.ndarray) -> Instances:
        options, rng = self.options, self.np_rng
        n, seq_length = ids.shape
        predictions = options.max_predictions_per_seq
        position = np.arange(seq_length)
        real = position[None] < lengths[:, None]
        candidate = real & (ids != self.cls_id) & (ids != self.sep_id)
        # Python's round() is round-half-even, like np.rint.
        num_to_predict = np.minimum(predictions, np.maximum(
            1, np.rint(lengths * options.masked_lm_prob).astype(np.int64)))

        # Candidate groups: single tokens, or whole words (a ## piece joins the group of
        # the previous candidate, as in Google's code).
        starts = candidate.copy()
        if options.do_whole_word_mask:
            earlier_candidate = np.cumsum(candidate, axis=1) - candidate > 0
            starts &= ~(self.is_continuation[ids] & earlier_candidate)
        group = np.where(candidate, np.cumsum(starts, axis=1) - 1, -1)
        num_groups = max(int(starts.sum(axis=1).max(initial=0)), 1)
        rows = np.broadcast_to(np.arange(n)[:, None], ids.shape)
        group_size = np.bincount((rows * num_groups + group)[candidate],
                                 minlength=n * num_groups).reshape(n, num_groups)

        # Visit groups in random order; take each one that still fits.
        order = np.argsort(np.where(group_size > 0, rng.random((n, num_groups)), 2.0), axis=1)
        sizes = np.take_along_axis(group_size, order, axis=1)
        taken = np.zeros((n, num_groups), bool)
        used = np.zeros(n, np.int64)
        for k in range(num_groups):
            fits = (sizes[:, k] > 0) & (used + sizes[:, k] <= num_to_predict)
            taken[:, k] = fits
            used += np.where(fits, sizes[:, k], 0)
        group_taken = np.zeros((n, num_groups), bool)
        np.put_along_axis(group_taken, order, taken, axis=1)
        masked = candidate & np.take_along_axis(group_taken, np.maximum(group, 0), axis=1)

        # 80% [MASK], 10% unchanged, 10% a random token of the whole vocabulary.
        choice = rng.random(ids.shape)
        replacement = np.where(choice < 0.8, self.mask_id, np.where(
            choice < 0.9, ids, rng.integers(0, self.vocab_size, ids.shape)))
        input_ids = np.where(masked, replacement, ids).astype(np.int32)

        # Masked positions in increasing order, padded with zeros (weight 0).
        slot = np.cumsum(masked, axis=1) - 1
        mask_rows, mask_positions = np.nonzero(masked)
        slots = slot[mask_rows, mask_positions]
        positions = np.zeros((n, predictions), np.int32)
        labels = np.zeros((n, predictions), np.int32)
        weights = np.zeros((n, predictions), np.float32)
        positions[mask_rows, slots] = mask_positions
        labels[mask_rows, slots] = ids[mask_rows, mask_positions]
        weights[mask_rows, slots] = 1.0
        return Instances(input_ids, real.astype(np.int32), segments, positions, labels, weights,
                         is_random_next)


def truncation_lengths(first: np.ndarray, second: np.ndarray, budget: int):
    """Kept segment lengths after Google's `truncate_seq_pair` (pop from the longer
    segment, from the second on ties) — the NumPy twin of
    `biobert_tf.bert.packing.truncation_lengths`."""
    fits = first + second <= budget
    keep_first = np.where(fits, first, np.where(
        second <= budget // 2, budget - second,
        np.where(first <= (budget + 1) // 2, first, (budget + 1) // 2)))
    return keep_first, np.where(fits, second, budget - keep_first)
