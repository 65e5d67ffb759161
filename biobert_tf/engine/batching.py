"""What every fine-tuning task shares: in-memory example batching and the epoch schedule.

Fine-tuning sets (NER, RE, QA) fit in memory as numpy arrays of equal-length rows. Training
batches are drawn from a fixed plan: per epoch a seeded shuffle, then examples of similar
length grouped into the same batch (sorted inside pools of `POOL_BATCHES` batches, whose
order is then shuffled) so that each batch is padded only to its own longest row. On CPU and
GPU that skips most of the padding work. An XLA-compiled step compiles once per shape, so its
batches are padded up to a multiple of `LENGTH_BUCKET` (a few shapes, little padding); on TPU
(`static_shapes`) every batch keeps the full sequence length. The plan is a pure function of
the seed, so a resumed job skips exactly the batches already trained on.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

POOL_BATCHES = 50
LENGTH_KEY = "padding_mask"  # the feature whose row sum is an example's length
# Padded lengths of XLA-compiled batches are multiples of this: 4 compiled shapes at length
# 128, each batch padded by fewer than 32 positions.
LENGTH_BUCKET = 32


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Steps of a fine-tuning run (BioBERT: `num_train_epochs` over `train_batch_size`)."""

    steps_per_epoch: int
    num_epochs: int

    @property
    def num_train_steps(self) -> int:
        return self.steps_per_epoch * self.num_epochs

    def warmup_steps(self, proportion: float) -> int:
        return int(self.num_train_steps * proportion)


def schedule(num_examples: int, batch_size: int, num_epochs: float) -> Schedule:
    """Whole epochs of `num_examples // batch_size` batches (Google drops the remainder,
    which a fresh shuffle brings back in the next epoch)."""
    if num_examples < batch_size:
        raise ValueError(f"only {num_examples} training examples for a batch size of "
                         f"{batch_size}: lower --train_batch_size")
    return Schedule(num_examples // batch_size, max(1, math.ceil(num_epochs)))


def train_plan(lengths: np.ndarray, batch_size: int, num_epochs: int, seed: int,
               group_by_length: bool = True) -> list[np.ndarray]:
    """Example indices of every training batch, epoch after epoch."""
    batches = []
    for epoch in range(num_epochs):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(lengths))
        usable = len(order) // batch_size * batch_size
        order = order[:usable]
        if group_by_length:
            pool = POOL_BATCHES * batch_size
            order = np.concatenate([
                chunk[np.argsort(lengths[chunk], kind="stable")]
                for chunk in np.split(order, range(pool, usable, pool))])
        epoch_batches = order.reshape(-1, batch_size)
        batches.extend(epoch_batches[rng.permutation(len(epoch_batches))])
    return batches


def predict_plan(num_examples: int, batch_size: int) -> list[np.ndarray]:
    """Batches in input order; the last one padded with repeats of example 0 (drop the
    outputs past `num_examples`) so that every replica always gets a full batch."""
    padded = -(-num_examples // batch_size) * batch_size
    indices = np.concatenate([np.arange(num_examples),
                              np.zeros(padded - num_examples, np.int64)])
    return list(indices.reshape(-1, batch_size))


def padded_width(longest: int, full: int, multiple: int) -> int:
    """The length a batch whose longest row is `longest` is padded to: rounded up to a
    multiple of `multiple`, at most the rows' `full` length."""
    return min(-(-longest // multiple) * multiple, full)


def make_dataset(features: dict[str, np.ndarray], plan: list[np.ndarray],
                 context: tf.distribute.InputContext, static_shapes: bool = False,
                 start_step: int = 0, per_worker: bool = False,
                 length_multiple: int = 1) -> tf.data.Dataset:
    """This input pipeline's per-replica batches of the planned global batches from
    `start_step` on, each padded to its longest row rounded up to `length_multiple` (to the
    full length with `static_shapes`). Per global batch, worker w's replica r gets slice
    w·R + r; with `per_worker` (prediction, where every worker needs every output) each worker
    splits whole batches among its own replicas instead."""
    local = context.num_replicas_in_sync // context.num_input_pipelines
    replicas, first = (local, 0) if per_worker else (context.num_replicas_in_sync,
                                                      context.input_pipeline_id * local)
    seq_keys = [k for k, v in features.items() if v.ndim >= 2 and
                v.shape[1] == features[LENGTH_KEY].shape[1]]
    lengths = features[LENGTH_KEY].sum(axis=1)
    full = features[LENGTH_KEY].shape[1]

    def batches():
        for indices in plan[start_step:]:
            width = full if static_shapes else padded_width(int(lengths[indices].max()), full,
                                                            length_multiple)
            for part in np.array_split(indices, replicas)[first:first + local]:
                yield {k: v[part, :width] if k in seq_keys else v[part]
                       for k, v in features.items()}

    signature = {k: tf.TensorSpec((None, None) + v.shape[2:] if k in seq_keys else
                                  (None,) + v.shape[1:], tf.as_dtype(v.dtype))
                 for k, v in features.items()}
    if static_shapes:
        per_replica = len(plan[0]) // replicas if plan else None
        signature = {k: tf.TensorSpec((per_replica,) + features[k].shape[1:], s.dtype)
                     for k, s in signature.items()}
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)
