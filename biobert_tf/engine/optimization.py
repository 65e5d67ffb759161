"""Google BERT's optimizer for Keras 3: Adam with decoupled weight decay, warmup + linear decay.

This reproduces google-research/bert `optimization.py`:

- `AdamWeightDecay`: Adam without bias correction, plus weight decay 0.01 added to the
  update (not to the loss) of every variable except LayerNorm parameters and biases.
- `Lamb`, for large batches: the same with bias correction and a per-variable trust ratio
  (You et al. 2019), as Google's and NVIDIA's BERT LAMB.
- `learning_rate_schedule`: linear warmup from 0, then linear decay to 0 at
  `num_train_steps`.
- `clip_gradients`: global-norm clipping to 1.0, done by the training loop.

The update of each large variable is one XLA-compiled function (`jit_compile=True`, the
default): TF runs the same arithmetic as a dozen kernels that each read and write every
parameter, which took ~1 s of a 7.4 s BERT-base step on 2 CPU cores; fused, it is one pass
(docs/benchmarks.md). The function assigns the variable and its moments itself, so XLA
writes them in place: returning new values for TensorFlow to assign took 1.6-2.7x as long
for BERT-base (bench/step_parts.py). Small variables (biases, LayerNorm) stay plain ops: a
compiled call costs ~0.7 ms to launch on a CPU, more than their update.

Calling pattern in a custom loop under a `tf.distribute` strategy (Mirrored,
MultiWorkerMirrored, TPU), the one `tests/test_optimization.py` checks against a single
device with the whole batch:

    with strategy.scope():
        model = ...
        optimizer = create_optimizer(lr, num_train_steps, num_warmup_steps,
                                     aggregate_gradients=False)
        optimizer.build(model.trainable_variables)

    def replica_step(batch):
        with tf.GradientTape() as tape:
            # Sum of per-example losses divided by the GLOBAL batch size.
            loss = ...
        grads = tape.gradient(loss, model.trainable_variables)
        grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
        grads = clip_gradients(grads, 1.0)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    strategy.run(replica_step, args=(batch,))  # inside a tf.function

Why `aggregate_gradients=False`: Keras 3's TensorFlow optimizer all-reduces (sums) the
gradients itself when `apply_gradients` runs in a replica context. Google clips the
global norm of the aggregated gradient, so the loop has to all-reduce first, and a second
sum inside Keras would multiply the gradients by the number of replicas. Adam hides
most of that (m / sqrt(v) is nearly scale-invariant) but not all: ε and the slots change.
With the default `aggregate_gradients=True` (what `model.fit` needs), pass the clipped
gradients divided by `strategy.num_replicas_in_sync` instead (for a `tf.IndexedSlices`,
such as the segment-embedding gradient, divide its `.values`); that is also exact, but
costs a second all-reduce of every gradient. The recommended pattern works unchanged
with the optimizer wrapped in `keras.optimizers.LossScaleOptimizer` (scale the loss,
clip at `1.0 * dynamic_scale`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import keras
import tensorflow as tf

LearningRateSchedule = keras.optimizers.schedules.LearningRateSchedule

# Google's exclusion list, matched (re.search) against each variable's path. Our Keras
# LayerNorm layers are named "*layer_norm*" (weights "gamma"/"beta"); "bias" also covers
# the MLM head's "output_bias".
DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")
# Variables with at least this many elements get a compiled update (see the module docstring):
# at ~10 GB/s, the passes fusion saves over 2**17 floats take about as long as a launch.
COMPILED_UPDATE_MIN_SIZE = 2 ** 17


@keras.saving.register_keras_serializable(package="biobert_tf")
class WarmupLinearDecay(LearningRateSchedule):
    """Google BERT's learning rate: linear warmup from 0, then linear decay to 0.

    At step `s` the rate is `init_lr * s / num_warmup_steps` while `s < num_warmup_steps`,
    otherwise `init_lr * (1 - min(s, num_train_steps) / num_train_steps)`. The decay counts
    from step 0, not from the end of warmup, exactly as Google's code does.
    """

    def __init__(self, init_lr: float, num_train_steps: int, num_warmup_steps: int = 0):
        if num_train_steps <= 0:
            raise ValueError(f"num_train_steps must be positive, got {num_train_steps}")
        if num_warmup_steps < 0:
            raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}")
        self.init_lr = float(init_lr)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        # Polynomial decay with power 1 and end rate 0; constant 0 after num_train_steps.
        done = tf.minimum(step, float(self.num_train_steps)) / float(self.num_train_steps)
        learning_rate = self.init_lr * (1.0 - done)
        if self.num_warmup_steps:
            warmup_rate = self.init_lr * step / float(self.num_warmup_steps)
            learning_rate = tf.where(step < float(self.num_warmup_steps), warmup_rate,
                                     learning_rate)
        return learning_rate

    def get_config(self) -> dict:
        return {"init_lr": self.init_lr, "num_train_steps": self.num_train_steps,
                "num_warmup_steps": self.num_warmup_steps}


def learning_rate_schedule(init_lr: float, num_train_steps: int,
                           num_warmup_steps: int) -> LearningRateSchedule:
    """Google BERT's warmup + linear-decay schedule (see `WarmupLinearDecay`)."""
    return WarmupLinearDecay(init_lr, num_train_steps, num_warmup_steps)


class DecoupledWeightDecay(keras.optimizers.Optimizer):
    """What Google BERT's Adam and LAMB share: Adam's moments (slots "adam_m", "adam_v"; β1
    0.9, β2 0.999, ε 1e-6 by default), weight decay added to the update of every variable
    whose path matches no regex of `exclude_from_weight_decay`, and `aggregate_gradients`.

    Keras' own `weight_decay=` machinery is not used: its decay is a separate assignment
    before the step (for LAMB, outside the trust ratio), and it matches exclusions against a
    name that depends on the backend. The moments are dense as in Google's code: sparse
    embedding gradients are densified, so the moments of rows absent from a batch still decay.

    `aggregate_gradients=False` makes `apply_gradients` use the gradients it is given as
    they are, for training loops that all-reduce (and clip) across replicas themselves; see
    the module docstring. `jit_compile` XLA-compiles the update (`next_values`) of each
    variable of at least `COMPILED_UPDATE_MIN_SIZE` elements.
    Create the optimizer inside `strategy.scope()`.
    """

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001,
                 weight_decay_rate: float = 0.01, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-6,
                 exclude_from_weight_decay: Sequence[str] = DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
                 aggregate_gradients: bool = True, jit_compile: bool = True,
                 name: str = "adam_weight_decay", **kwargs):
        if kwargs.pop("weight_decay", None) is not None:
            raise ValueError(f"{type(self).__name__} decays weights itself: set "
                             "weight_decay_rate, not Keras' weight_decay")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.weight_decay_rate = float(weight_decay_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.weight_decay_exclusions = tuple(exclude_from_weight_decay)
        self.aggregate_gradients = bool(aggregate_gradients)
        self.jit_compile = bool(jit_compile)
        # A function, not state: set past Keras' tracking, so checkpoints do not list it.
        object.__setattr__(self, "_compiled_update", tf.function(
            self._update, jit_compile=True, autograph=False))

    def is_excluded(self, variable) -> bool:
        """Whether `variable`'s path matches an exclusion (LayerNorm weights and biases)."""
        return any(re.search(pattern, variable.path) for pattern in self.weight_decay_exclusions)

    def applies_weight_decay(self, variable) -> bool:
        """Whether `variable` (a Keras variable) is decayed: its path matches no exclusion."""
        return bool(self.weight_decay_rate) and not self.is_excluded(variable)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        # Keras' hook feeds its own weight_decay, which this optimizer does not use; failing
        # loudly beats silently decaying what the caller meant to exclude.
        raise NotImplementedError(f"pass exclude_from_weight_decay=[regex, ...] to "
                                  f"{type(self).__name__}")

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # Slot names follow Google's TF1 checkpoints ("<variable>/adam_m", "<variable>/adam_v").
        self._m, self._v = self.add_optimizer_variables(var_list, ["adam_m", "adam_v"])
        self._decays = tuple(self.applies_weight_decay(variable) for variable in var_list)
        self._adapts = tuple(not self.is_excluded(variable) for variable in var_list)

    def update_step(self, gradient, variable, learning_rate):
        # `variable` is a tf.Variable: under a strategy, the copy on the device being updated.
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        compiled = (self.jit_compile and
                    variable.shape.num_elements() >= COMPILED_UPDATE_MIN_SIZE)
        update = self._compiled_update if compiled else self._update
        # Dense like Google's update: sparse embedding gradients are densified.
        update(tf.cast(tf.convert_to_tensor(gradient), dtype), variable,
               local_copy(self._m[index], variable), local_copy(self._v[index], variable),
               tf.cast(learning_rate, dtype), tf.cast(self.iterations + 1, dtype),
               self._decays[index], self._adapts[index])

    def _update(self, gradient: tf.Tensor, variable: tf.Variable, m: tf.Variable,
                v: tf.Variable, learning_rate: tf.Tensor, step: tf.Tensor, decays: bool,
                adapts: bool) -> None:
        """Assigns `next_values` to the variable and its moments (tf.Variables)."""
        next_p, next_m, next_v = self.next_values(
            gradient, variable.read_value(), m.read_value(), v.read_value(), learning_rate,
            step, decays, adapts)
        m.assign(next_m)
        v.assign(next_v)
        variable.assign(next_p)

    def next_values(self, gradient: tf.Tensor, weights: tf.Tensor, m: tf.Tensor,
                    v: tf.Tensor, learning_rate: tf.Tensor, step: tf.Tensor, decays: bool,
                    adapts: bool) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """A variable's (weights, m, v) after one step (`step` counts from 1); `decays`:
        whether its weights decay, `adapts`: whether LAMB's trust ratio applies to it."""
        raise NotImplementedError

    def _moments(self, gradient: tf.Tensor, m: tf.Tensor, v: tf.Tensor
                 ) -> tuple[tf.Tensor, tf.Tensor]:
        return (self.beta_1 * m + (1.0 - self.beta_1) * gradient,
                self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient))

    def _with_decay(self, update: tf.Tensor, weights: tf.Tensor, decays: bool) -> tf.Tensor:
        """`update` plus the decay term if the weights (their values before the step) decay."""
        return update + self.weight_decay_rate * weights if decays else update

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # Keras' TensorFlow optimizer sums the gradients across replicas here, in replica
        # context; skip that when the training loop has already done it.
        if self.aggregate_gradients:
            return super()._all_reduce_sum_gradients(grads_and_vars)
        return list(grads_and_vars)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["weight_decay"]  # Keras' own decay, always None here.
        config.update({
            "weight_decay_rate": self.weight_decay_rate,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "exclude_from_weight_decay": list(self.weight_decay_exclusions),
            "aggregate_gradients": self.aggregate_gradients,
            "jit_compile": self.jit_compile,
        })
        return config


@keras.saving.register_keras_serializable(package="biobert_tf")
class AdamWeightDecay(DecoupledWeightDecay):
    """Google BERT's "AdamWeightDecayOptimizer" as a Keras 3 optimizer.

    For each variable `p` with gradient `g` (Google's defaults β1 0.9, β2 0.999, ε 1e-6):

        m = β1 m + (1 - β1) g
        v = β2 v + (1 - β2) g²
        update = m / (sqrt(v) + ε) + weight_decay_rate * p    # decay term only if p decays
        p = p - learning_rate * update

    There is **no bias correction** of m and v: Google's BERT omits it, which matters in the
    early steps. With a constant gradient, m / sqrt(v) is 3.2·sign(g) after step 1 (Adam:
    sign(g)), at most about 6.6· (step 12) and still 1.26· at step 1000. Warmup keeps those
    early steps small, but the trajectory is not Adam's or AdamW's.

    Weight decay is decoupled (it never touches the gradient or the moments) and uses the
    value of `p` before the step. It is skipped for variables whose path matches any regex
    in `exclude_from_weight_decay` (Google's list by default: LayerNorm weights and biases).
    """

    def next_values(self, gradient, weights, m, v, learning_rate, step, decays, adapts):
        m, v = self._moments(gradient, m, v)
        update = self._with_decay(m / (tf.sqrt(v) + self.epsilon), weights, decays)
        return weights - learning_rate * update, m, v


@keras.saving.register_keras_serializable(package="biobert_tf")
class Lamb(DecoupledWeightDecay):
    """LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning", Algorithm 2) as
    Google's and NVIDIA's BERT code runs it, for large-batch pretraining.

    For each variable `p` with gradient `g`, at step t (1 for the first update):

        m = β1 m + (1 - β1) g,   v = β2 v + (1 - β2) g²
        r = (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + ε) + weight_decay_rate * p
        p = p - learning_rate * ‖p‖ / ‖r‖ * r      # trust ratio 1 if either norm is 0

    Unlike Google's Adam, m and v are bias-corrected. Variables excluded from weight decay
    (LayerNorm weights, biases) are also excluded from the layer adaptation (trust ratio 1),
    as in Google's lamb_optimizer. Keras' `keras.optimizers.Lamb` is not this algorithm: it
    applies weight decay outside the trust ratio (a separate step before the update) and
    adapts every variable, with no exclusion list.
    """

    def __init__(self, learning_rate: float | LearningRateSchedule = 0.001,
                 name: str = "lamb", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)

    def next_values(self, gradient, weights, m, v, learning_rate, step, decays, adapts):
        m, v = self._moments(gradient, m, v)
        m_hat = m / (1.0 - tf.pow(tf.cast(self.beta_1, m.dtype), step))
        v_hat = v / (1.0 - tf.pow(tf.cast(self.beta_2, v.dtype), step))
        update = self._with_decay(m_hat / (tf.sqrt(v_hat) + self.epsilon), weights, decays)
        if adapts:
            update *= trust_ratio(weights, update)
        return weights - learning_rate * update, m, v


def local_copy(slot, variable: tf.Variable) -> tf.Variable:
    """The tf.Variable of `slot` (a Keras optimizer variable) on `variable`'s device: under a
    strategy, the optimizer updates each device's copy of a variable on its own."""
    copies = tf.distribute.get_strategy().experimental_local_results(slot.value)
    return copies[0] if len(copies) == 1 else {c.device: c for c in copies}[variable.device]


def trust_ratio(weights: tf.Tensor, update: tf.Tensor) -> tf.Tensor:
    """LAMB's layer adaptation ‖weights‖ / ‖update‖, 1 where either norm is 0."""
    weight_norm, update_norm = tf.norm(weights), tf.norm(update)
    return tf.where((weight_norm > 0) & (update_norm > 0), weight_norm / update_norm,
                    tf.ones_like(weight_norm))


OPTIMIZERS = {"adamw": AdamWeightDecay, "lamb": Lamb}


def create_optimizer(init_lr: float, num_train_steps: int, num_warmup_steps: int,
                     weight_decay: float = 0.01, aggregate_gradients: bool = True,
                     optimizer: str = "adamw", jit_compile: bool = True
                     ) -> DecoupledWeightDecay:
    """Google BERT's optimizer (`optimizer` "adamw": `AdamWeightDecay`; "lamb": `Lamb`) on the
    warmup + linear-decay schedule.

    Gradient clipping is not part of it: call `clip_gradients` on the aggregated gradients.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}: choose one of "
                         f"{', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[optimizer](
        learning_rate=learning_rate_schedule(init_lr, num_train_steps, num_warmup_steps),
        weight_decay_rate=weight_decay, aggregate_gradients=aggregate_gradients,
        jit_compile=jit_compile)


def clip_gradients(grads: Iterable, clip_norm: float = 1.0) -> list:
    """Scales all gradients together so their global L2 norm is at most `clip_norm`.

    `None` entries (variables without a gradient) pass through. Google clips to 1.0.

    Call it on gradients already summed across replicas. Keras' `global_clipnorm` is not a
    substitute under a strategy: the optimizer clips before its own cross-replica sum, so
    each replica would clip its partial gradient by its own norm.
    """
    clipped, _ = tf.clip_by_global_norm(list(grads), clip_norm)
    return clipped
