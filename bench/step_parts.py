"""What the elementwise parts of a BERT-base training step cost, as the library runs them and as
TensorFlow's plain ops would.

Three parts of a bfloat16 pretraining step (batch 8 × 128 positions) that are not matmuls:

* `gelu`: the tanh GELU forward and backward on the 12 feed-forward activations ([1024, 3072]
  bf16 each): TensorFlow's ops against `biobert_tf.bert.modeling.compiled` (one XLA-compiled
  pass each way, float32 inside);
* `layer_norm`: 24 LayerNorms forward and backward ([1024, 768] bf16, float32 gamma and beta):
  Keras' `LayerNormalization` against `compiled(layer_norm(1e-12))`;
* `optimizer`: `AdamWeightDecay.apply_gradients` over every variable of BERT-base (109 M
  parameters, 206 variables), with the compiled update writing the variable and its moments in
  place (the library's) against one returning new values that TensorFlow assigns afterwards
  (the library's before 2026-12-04); and, for scale, the gradient clipping in front of it.

Each arm is one `tf.function`; arms take turns in rounds and each figure is a median, so a change
in load hits both sides alike. The matmul part of the same step can be timed with
`bench/train_throughput.py --configs peak,tf:bf16:profile`.

    python bench/step_parts.py              # ~2 min on 2 cores
    python bench/step_parts.py --rounds 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import biobert_tf  # noqa: F401  (first: it picks the CPU kernels, as the run scripts do)
import keras
import tensorflow as tf

from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import (BertEncoder, BertPretrainer, compiled, keras_activation,
                                      layer_norm)
from biobert_tf.engine import optimization
from biobert_tf.engine.optimization import clip_gradients, create_optimizer

TOKENS, HIDDEN, INTERMEDIATE, LAYERS = 8 * 128, 768, 3072, 12


def forward_backward(fn, shape, variables=(), repeats: int = 1):
    """A tf.function: `repeats` times `fn(x)` forward and its gradient (to x and `variables`)
    for bfloat16 `x` and upstream gradients of `shape`. Both are variables, read anew each time,
    so that TensorFlow can neither precompute nor merge the repeats."""
    x, upstream = (tf.Variable(tf.cast(tf.random.normal(shape), tf.bfloat16)) for _ in "xu")

    @tf.function(autograph=False)
    def run():
        total = []
        for _ in range(repeats):
            inputs = x.read_value()
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                y = fn(inputs)
            grads = tape.gradient(y, [inputs, *variables], upstream.read_value())
            total += [tf.reduce_sum(tf.cast(t[:1], tf.float32)) for t in (y, *grads)]
        return tf.add_n(total)
    return run


def gelu_arms() -> dict:
    gelu, shape = keras_activation("gelu"), (TOKENS, INTERMEDIATE)
    return {"gelu: TF ops": forward_backward(gelu, shape, repeats=LAYERS),
            "gelu: compiled": forward_backward(compiled(gelu), shape, repeats=LAYERS)}


def layer_norm_arms() -> dict:
    norm = keras.layers.LayerNormalization(epsilon=1e-12, dtype="mixed_bfloat16")
    norm.build((None, HIDDEN))
    weights, shape = (norm.gamma, norm.beta), (TOKENS, HIDDEN)

    def compiled_norm(x):
        return compiled(layer_norm(1e-12))(x, *(tf.convert_to_tensor(w) for w in weights))

    return {"layer_norm: Keras": forward_backward(norm, shape, weights, 2 * LAYERS),
            "layer_norm: compiled": forward_backward(compiled_norm, shape, weights, 2 * LAYERS)}


class ReturningUpdate(optimization.AdamWeightDecay):
    """The compiled update as it was before 2026-12-04: XLA returns the new values, TensorFlow
    assigns them afterwards. Only the compiled update differs from the library's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        returning = tf.function(self.next_values, jit_compile=True, autograph=False)

        def update(gradient, variable, m, v, *step_args):
            new = returning(gradient, variable.read_value(), m.read_value(), v.read_value(),
                            *step_args)
            for target, value in zip((variable, m, v), new):
                target.assign(value)
        object.__setattr__(self, "_compiled_update", update)


def optimizer_arms() -> dict:
    model = BertPretrainer(BertEncoder.from_bert_config(BertConfig(vocab_size=28996)))
    variables = model.trainable_variables
    # Variables, read in each call, so that nothing can be precomputed.
    grad_variables = [tf.Variable(tf.random.normal(v.shape, stddev=1e-3)) for v in variables]

    def grads():
        return [g.read_value() for g in grad_variables]

    arms = {}
    for name, optimizer in (("optimizer: update in place", create_optimizer(1e-4, 10**5, 10**3)),
                            ("optimizer: values returned", ReturningUpdate(1e-4))):
        optimizer.build(variables)

        @tf.function(autograph=False)
        def apply(optimizer=optimizer):
            optimizer.apply_gradients(zip(grads(), variables))
            return optimizer.iterations
        arms[name] = apply
    optimizer = create_optimizer(1e-4, 10**5, 10**3)
    optimizer.build(variables)
    arms["optimizer: clipping + update in place"] = tf.function(lambda: [
        optimizer.apply_gradients(zip(clip_gradients(grads()), variables)),
        optimizer.iterations][1], autograph=False)
    return arms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()

    keras.utils.set_random_seed(0)
    arms = {**gelu_arms(), **layer_norm_arms(), **optimizer_arms()}
    for fn in arms.values():
        fn()  # trace, compile, warm up
    times = {name: [] for name in arms}
    for _ in range(args.rounds):
        for name, fn in arms.items():
            start = time.perf_counter()
            fn().numpy()
            times[name].append(time.perf_counter() - start)
    print(f"bfloat16 BERT-base step parts, batch 8 x 128, median of {args.rounds} rounds "
          f"(1-min load {os.getloadavg()[0]:.2f}):")
    for name, seconds in times.items():
        print(f"  {name:40s} {statistics.median(seconds) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
