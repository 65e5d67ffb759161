"""A linear-chain conditional random field for sequence labelling (BERT-NER, BiLSTM-CRF).

The score of tags y_0..y_{L-1} for emission potentials e [L, K] is

    start[y_0] + sum_t e[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{L-1}]

and p(y | x) = exp(score(y)) / Z, Z summing over all K^L tag sequences. Each row of a batch
has a valid prefix of `lengths[b]` positions; positions beyond it are ignored (a row of length
0 has log-likelihood 0 and decodes to nothing).

Tag-scheme constraints (`allowed_transitions`) are a fixed -1e4 added to the score of every
forbidden start, move and end: such sequences are never decoded and have probability ~0. The
penalties are non-trainable weights, so checkpoints and SavedModels carry them. A gold sequence
that breaks the constraints (e.g. "O I" in sloppy BIO data) scores about -1e4 and so gets a huge
loss; its gradient stays bounded (marginals - one_hot), but repair such data before training.

Everything is plain TensorFlow (`tf.scan` over time), so it runs eagerly, under `tf.function`
(XLA included) and in exported SavedModels. Potentials are cast to float32: a forward algorithm
over hundreds of steps in float16 / bfloat16 loses too much, and the cost is tiny next to BERT.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from biobert_tf.tasks.ner.labels import split_label

FORBIDDEN_PENALTY = -1e4  # exp(-1e4) is exactly 0 in float32; finite, so no NaN gradients

_SCHEME_PREFIXES = {"bio": "BI", "iob2": "BI", "bioes": "BIES", "iobes": "BIES"}

Allowed = tuple[np.ndarray, np.ndarray, np.ndarray]


def _parse_label(label: str, prefixes: str, scheme: str) -> tuple[str, str]:
    """("O", "") for O, else (prefix, entity type); the type is "" for untyped "B" / "I"."""
    prefix, kind = split_label(label)
    if prefix == "O" or prefix in prefixes:
        return prefix, kind
    raise ValueError(f"label {label!r} is not O or one of {', '.join(prefixes)} (optionally "
                     f"followed by -TYPE) in the {scheme} scheme")


def allowed_transitions(labels: Sequence[str], scheme: str) -> Allowed:
    """What a tag scheme permits, as bool masks (start [K], transitions [K, K] from -> to, end [K]).

    `labels` are the tag names in id order: "O", "B", "I" (BioBERT's untyped tags) or "B-Disease",
    "I-Chemical", ...; with scheme "bioes" also "E-X" / "S-X" (or untyped "E" / "S").

    - "bio" (IOB2): I-X may only follow B-X or I-X and may not start a sentence; any tag may end
      one.
    - "bioes": B-X and I-X must be followed by I-X or E-X; E-X, S-X and O by O, B-* or S-*;
      a sentence starts with O, B-* or S-* and ends with O, E-* or S-*.

    Raises ValueError for an unknown scheme or a label that does not fit it.
    """
    key = scheme.lower()
    if key not in _SCHEME_PREFIXES:
        raise ValueError(f"unknown tag scheme {scheme!r}; "
                         f"expected one of {sorted(_SCHEME_PREFIXES)}")
    parsed = [_parse_label(label, _SCHEME_PREFIXES[key], scheme) for label in labels]
    prefixes = np.array([prefix for prefix, _ in parsed])
    kinds = np.array([kind for _, kind in parsed])
    same_kind = kinds[:, None] == kinds[None, :]
    inside_from = np.isin(prefixes, ["B", "I"])[:, None]  # rows: the previous tag
    if key in ("bio", "iob2"):
        start = prefixes != "I"
        end = np.ones(len(labels), dtype=bool)
        to_inside = (prefixes == "I")[None, :]
        transitions = ~to_inside | (inside_from & same_kind)
    else:
        start = np.isin(prefixes, ["O", "B", "S"])
        end = np.isin(prefixes, ["O", "E", "S"])
        continues = inside_from & np.isin(prefixes, ["I", "E"])[None, :] & same_kind
        begins = ~inside_from & np.isin(prefixes, ["O", "B", "S"])[None, :]
        transitions = continues | begins
    return start, transitions, end


def _penalty(allowed: np.ndarray) -> np.ndarray:
    return np.where(allowed, 0.0, FORBIDDEN_PENALTY).astype(np.float32)


@keras.saving.register_keras_serializable(package="biobert_tf")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over emission potentials [batch, time, num_tags].

    Args:
      num_tags: K, the number of tags.
      allowed: (start [K], transitions [K, K] from -> to, end [K]) bool masks, as returned by
        `allowed_transitions`; None allows everything.

    Trainable weights `transitions` [K, K] (from -> to), `start_transitions` [K] and
    `end_transitions` [K]; non-trainable `*_penalty` weights hold the constraints.
    The layer always computes in float32 (its default dtype policy), whatever the global policy.

    Calling the layer, `crf(potentials, lengths)`, returns `decode`'s tags [batch, time] int32,
    so it can end a functional model used for prediction; train with `-log_likelihood(...)`.
    """

    def __init__(self, num_tags: int, allowed: Optional[Allowed] = None, **kwargs):
        # Potentials are float32 even under mixed precision (see the module docstring).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        if allowed is None:
            masks = (np.ones(num_tags, bool), np.ones((num_tags, num_tags), bool),
                     np.ones(num_tags, bool))
        else:
            masks = tuple(np.asarray(mask, dtype=bool) for mask in allowed)
            shapes = [(num_tags,), (num_tags, num_tags), (num_tags,)]
            if len(masks) != 3 or [m.shape for m in masks] != shapes:
                raise ValueError(f"allowed must be masks of shapes {shapes}, got "
                                 f"{[m.shape for m in masks]}")
        self.allowed = None if allowed is None else masks
        k = self.num_tags
        self.transitions = self.add_weight(shape=(k, k), initializer="zeros", name="transitions")
        self.start_transitions = self.add_weight(shape=(k,), initializer="zeros",
                                                 name="start_transitions")
        self.end_transitions = self.add_weight(shape=(k,), initializer="zeros",
                                               name="end_transitions")
        self.start_penalty, self.transition_penalty, self.end_penalty = [
            self.add_weight(shape=mask.shape, initializer="zeros", trainable=False, name=name)
            for mask, name in zip(masks, ("start_penalty", "transition_penalty", "end_penalty"))]
        for weight, mask in zip((self.start_penalty, self.transition_penalty, self.end_penalty),
                                masks):
            weight.assign(_penalty(mask))
        self.built = True  # every weight exists already; nothing depends on the input shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_tags=self.num_tags,
                      allowed=None if self.allowed is None
                      else [mask.tolist() for mask in self.allowed])
        return config

    # -- public API ------------------------------------------------------------------------------

    def call(self, potentials, lengths):
        """Viterbi tags [batch, time] int32 (0 beyond each length); see `decode`."""
        return self.decode(potentials, lengths)[0]

    def compute_output_spec(self, potentials, lengths):
        return keras.KerasTensor(potentials.shape[:2], dtype="int32")

    def log_likelihood(self, potentials, tags, lengths) -> tf.Tensor:
        """log p(tags | potentials) [batch] float32; the training loss is its negative.

        potentials [batch, time, K] (any float dtype), tags [batch, time] int (values beyond each
        length are ignored, so padding labels such as -100 are fine), lengths [batch] int.
        """
        emissions, lengths, num_steps = self._prepare(potentials, lengths)
        tags = tf.pad(tf.cast(tags, tf.int32)[:, :num_steps], [[0, 0], [0, 1]])
        alphas = self._forward(emissions, lengths)
        return self._sequence_score(emissions, tags, lengths) - self._log_partition(alphas,
                                                                                     lengths)

    def decode(self, potentials, lengths) -> tuple[tf.Tensor, tf.Tensor]:
        """Viterbi: (best tags [batch, time] int32 with 0 beyond each length,
        their score [batch] float32, 0 for empty rows)."""
        emissions, lengths, num_steps = self._prepare(potentials, lengths)
        start, transitions, end = self._parameters()
        identity = tf.broadcast_to(tf.range(self.num_tags), tf.shape(emissions[0]))

        def step(carry, inputs):
            best, _ = carry
            emission, t = inputs
            candidates = best[:, :, None] + transitions  # [batch, from, to]
            new_best = tf.where(t == 0, start, tf.reduce_max(candidates, axis=1)) + emission
            valid = (t < lengths)[:, None]
            # Backpointers are the identity at t = 0 and past the length, so the backtrack from
            # the last step walks through padding unchanged to each row's last valid tag.
            pointers = tf.where(valid & (t > 0),
                                tf.argmax(candidates, axis=1, output_type=tf.int32), identity)
            return tf.where(valid, new_best, best), pointers

        steps = tf.range(tf.shape(emissions)[0])
        bests, pointers = tf.scan(step, (emissions, steps),
                                  initializer=(tf.zeros_like(emissions[0]), identity))
        final = bests[-1] + end
        last_tag = tf.argmax(final, axis=1, output_type=tf.int32)
        # tag_t = pointers_{t+1}[tag_{t+1}]; pointers_0 is the identity, so rolling it to the end
        # lets the last step hand `last_tag` through unchanged.
        tags = tf.scan(lambda tag, pointer: tf.gather(pointer, tag, batch_dims=1),
                       tf.roll(pointers, shift=-1, axis=0), initializer=last_tag, reverse=True)
        mask = self._mask(steps, lengths)
        tags = tf.transpose(tf.where(mask, tags, 0))[:, :num_steps]
        score = tf.where(lengths > 0, tf.reduce_max(final, axis=1), 0.0)
        return tags, score

    def marginals(self, potentials, lengths) -> tf.Tensor:
        """p(tag_t = k | potentials) [batch, time, K] float32 by forward-backward; 0 beyond
        each length. For confidence scores of predicted tags / entities."""
        emissions, lengths, num_steps = self._prepare(potentials, lengths)
        _, transitions, end = self._parameters()
        alphas = self._forward(emissions, lengths)
        log_z = self._log_partition(alphas, lengths)
        steps = tf.range(tf.shape(emissions)[0])
        next_emissions = tf.concat([emissions[1:], tf.zeros_like(emissions[:1])], axis=0)

        def step(beta, inputs):
            # beta_t[i] = log sum over continuations after t from tag i (incl. the end score).
            emission, t = inputs  # emission of step t + 1
            recursion = tf.reduce_logsumexp(transitions + (emission + beta)[:, None, :], axis=2)
            return tf.where((t < lengths - 1)[:, None], recursion, end)

        betas = tf.scan(step, (next_emissions, steps),
                        initializer=tf.zeros_like(emissions[0]) + end, reverse=True)
        probs = tf.exp(alphas + betas - log_z[None, :, None])
        probs = tf.where(self._mask(steps, lengths)[:, :, None], probs, 0.0)
        return tf.transpose(probs, [1, 0, 2])[:, :num_steps]

    # -- internals (emissions are time-major [time + 1, batch, K]) ---------------------------------

    def _parameters(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """start, transitions, end scores with the constraint penalties added."""
        return (tf.convert_to_tensor(self.start_transitions) + self.start_penalty,
                tf.convert_to_tensor(self.transitions) + self.transition_penalty,
                tf.convert_to_tensor(self.end_transitions) + self.end_penalty)

    @staticmethod
    def _prepare(potentials, lengths):
        """(float32 time-major emissions with one zero step appended, clipped int32 lengths, T).

        The extra step means tf.scan always has a step to run (T = 0 batches work with unknown
        shapes) and every row ends before the last step, whose state is then each row's final
        one (states are carried unchanged past a row's length).
        """
        potentials = tf.cast(potentials, tf.float32)
        num_steps = tf.shape(potentials)[1]
        lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, num_steps)
        emissions = tf.transpose(tf.pad(potentials, [[0, 0], [0, 1], [0, 0]]), [1, 0, 2])
        return emissions, lengths, num_steps

    @staticmethod
    def _mask(steps, lengths) -> tf.Tensor:
        return steps[:, None] < lengths[None, :]  # [time, batch]

    def _forward(self, emissions, lengths) -> tf.Tensor:
        """alpha_t[k] = log sum of scores of prefixes y_0..y_t with y_t = k, [time, batch, K];
        carried unchanged past each length."""
        start, transitions, _ = self._parameters()

        def step(alpha, inputs):
            emission, t = inputs
            recursion = tf.reduce_logsumexp(alpha[:, :, None] + transitions, axis=1)
            new_alpha = tf.where(t == 0, start, recursion) + emission
            return tf.where((t < lengths)[:, None], new_alpha, alpha)

        steps = tf.range(tf.shape(emissions)[0])
        return tf.scan(step, (emissions, steps), initializer=tf.zeros_like(emissions[0]))

    def _log_partition(self, alphas, lengths) -> tf.Tensor:
        log_z = tf.reduce_logsumexp(alphas[-1] + self._parameters()[2], axis=1)
        return tf.where(lengths > 0, log_z, 0.0)

    def _sequence_score(self, emissions, tags, lengths) -> tf.Tensor:
        """score(tags) [batch]; tags [batch, time + 1]."""
        start, transitions, end = self._parameters()
        mask = tf.sequence_mask(lengths, tf.shape(tags)[1])
        tags = tf.where(mask, tags, 0)  # padding labels may be out of range
        emitted = tf.gather(tf.transpose(emissions, [1, 0, 2]), tags, batch_dims=2)
        score = tf.reduce_sum(tf.where(mask, emitted, 0.0), axis=1)
        moves = tf.gather_nd(transitions, tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1))
        score += tf.reduce_sum(tf.where(mask[:, 1:], moves, 0.0), axis=1)
        last = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
        ends = tf.gather(start, tags[:, 0]) + tf.gather(end, last)
        return score + tf.where(lengths > 0, ends, 0.0)
