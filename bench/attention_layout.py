"""Does attention's head layout matter to a BERT-base training step on this CPU?

Keras' `MultiHeadAttention` (inside keras-hub's `TransformerEncoder`, which `BertEncoder` uses)
computes attention's two products with einsums over [batch, seq, heads, dim] tensors. Alone,
those einsums run far below matmul speed on CPUs. This script measures what that costs where it
counts: the forward and backward pass of a stack of BERT-base encoder layers (hidden 768, 12
heads, FFN 3,072, dropout 0.1 in training mode), batch 8 × 128 positions, gradients of every
weight, in one `tf.function`, for two layouts with the same weights:

* `einsum`: keras-hub's layer as the project runs it;
* `matmul`: the same layer with attention computed by `tf.matmul` over [batch, heads, seq, dim]
  (queries, keys and values transposed once), as PyTorch does.

It prints each layout's median seconds per pass, the stack's model GFLOP/s and, for scale, the
GFLOP/s of one `tf.matmul` at the feed-forward's shape in the same process. Arms take turns in
rounds, so a change in load hits both alike.

    python bench/attention_layout.py                 # 4 layers, 5 rounds (~1 min)
    python bench/attention_layout.py --layers 12 --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import biobert_tf  # noqa: F401  (first: it picks the CPU kernels, as the run scripts do)
import keras
import tensorflow as tf
from keras_hub.layers import TransformerEncoder

BATCH, SEQ, HIDDEN, HEADS = 8, 128, 768, 12


class MatmulAttention(keras.layers.MultiHeadAttention):
    """Keras' attention with its two products as `tf.matmul` over [batch, heads, seq, dim]."""

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        query, key, value = (tf.transpose(t, [0, 2, 1, 3]) for t in (query, key, value))
        scores = tf.matmul(query * self._inverse_sqrt_key_dim, key, transpose_b=True)
        probs = self._dropout_layer(self._masked_softmax(scores, attention_mask),
                                    training=training)
        return tf.transpose(tf.matmul(probs, value), [0, 2, 1, 3]), None


def encoder_stack(num_layers: int, layout: str) -> list:
    layers = []
    for _ in range(num_layers):
        layer = TransformerEncoder(num_heads=HEADS, intermediate_dim=4 * HIDDEN, dropout=0.1)
        layer.build((BATCH, SEQ, HIDDEN))
        if layout == "matmul":  # same variables, another `_compute_attention`
            layer._self_attention_layer.__class__ = MatmulAttention
        layers.append(layer)
    return layers


def training_pass(layers: list, padding_mask: tf.Tensor):
    variables = [v.value for layer in layers for v in layer.trainable_variables]

    @tf.function(autograph=False)
    def run(x):
        with tf.GradientTape() as tape:
            y = x
            for layer in layers:
                y = layer(y, padding_mask=padding_mask, training=True)
            loss = tf.reduce_sum(y * y)
        return tf.add_n([tf.reduce_sum(g) for g in tape.gradient(loss, variables)])
    return run


def seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args).numpy()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()

    keras.utils.set_random_seed(0)
    x = tf.random.normal((BATCH, SEQ, HIDDEN))
    padding_mask = tf.ones((BATCH, SEQ), tf.int32)
    stacks = {layout: encoder_stack(args.layers, layout) for layout in ("einsum", "matmul")}
    for ours, theirs in zip(stacks["einsum"], stacks["matmul"]):
        theirs.set_weights(ours.get_weights())
    passes = {layout: training_pass(layers, padding_mask) for layout, layers in stacks.items()}
    tokens = BATCH * SEQ
    a = tf.random.normal((tokens, HIDDEN))
    w = tf.random.normal((HIDDEN, 4 * HIDDEN))
    matmul = tf.function(lambda a, w: tf.reduce_sum(tf.matmul(a, w)))
    arms = dict(passes, ffn_matmul=matmul)
    arm_args = {"ffn_matmul": (a, w), "einsum": (x,), "matmul": (x,)}
    for name, fn in arms.items():
        seconds(fn, *arm_args[name])  # trace and warm up
    times = {name: [] for name in arms}
    for _ in range(args.rounds):
        for name, fn in arms.items():
            times[name].append(seconds(fn, *arm_args[name]))

    # Model FLOPs of one layer's forward pass: 4 H² projections and 2 H·4H feed-forward per
    # token, plus QKᵀ and attention·V; training is 3× that.
    layer_flops = 2 * tokens * (4 * HIDDEN**2 + 8 * HIDDEN**2) + 4 * BATCH * SEQ**2 * HIDDEN
    pass_flops = 3 * args.layers * layer_flops
    print(f"{args.layers} BERT-base layers, batch {BATCH} x {SEQ}, forward + backward, "
          f"median of {args.rounds} rounds (load {os.getloadavg()[0]:.2f})")
    for name in passes:
        s = statistics.median(times[name])
        print(f"  {name:7s} {s:6.3f} s  {pass_flops / s / 1e9:6.1f} GFLOP/s")
    s = statistics.median(times["ffn_matmul"])
    print(f"  tf.matmul {tokens}x{HIDDEN} . {HIDDEN}x{4 * HIDDEN}: "
          f"{2 * tokens * HIDDEN * 4 * HIDDEN / s / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    main()
