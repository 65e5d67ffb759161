"""Google BERT's optimizer and LAMB: schedule, update arithmetic, weight-decay exclusions,
clipping, checkpoints, and equivalence of a 2-replica MirroredStrategy step with a one-device
step."""

import json
import os
import subprocess
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.bert.modeling import BertEncoder, BertPretrainer
from biobert_tf.engine import optimization
from helpers import python, xla_must_compile
from biobert_tf.engine.optimization import (AdamWeightDecay, Lamb, WarmupLinearDecay,
                                            clip_gradients, create_optimizer,
                                            learning_rate_schedule, trust_ratio)


def test_schedule_warmup_then_linear_decay():
    schedule = learning_rate_schedule(0.1, num_train_steps=100, num_warmup_steps=10)
    expected = {0: 0.0, 5: 0.05, 9: 0.09,
                10: 0.09,  # decay counts from step 0, as in Google's code
                50: 0.05, 100: 0.0, 150: 0.0}
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, abs=1e-8), step
    no_warmup = learning_rate_schedule(0.1, num_train_steps=100, num_warmup_steps=0)
    assert float(no_warmup(0)) == pytest.approx(0.1)
    assert float(no_warmup(25)) == pytest.approx(0.075)


@pytest.mark.parametrize("name, kind", [("adamw", AdamWeightDecay), ("lamb", Lamb)])
def test_schedule_and_optimizer_serialize(name, kind):
    optimizer = create_optimizer(2e-5, num_train_steps=1000, num_warmup_steps=100,
                                 weight_decay=0.02, aggregate_gradients=False, optimizer=name)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert isinstance(restored, kind)
    assert restored.get_config() == optimizer.get_config()
    schedule = restored.get_config()["learning_rate"]
    assert schedule["config"] == {"init_lr": 2e-5, "num_train_steps": 1000, "num_warmup_steps": 100}
    assert isinstance(restored._learning_rate, WarmupLinearDecay)
    assert (restored.beta_1, restored.beta_2, restored.epsilon) == (0.9, 0.999, 1e-6)
    with pytest.raises(ValueError, match="weight_decay_rate"):
        AdamWeightDecay(weight_decay=0.01)


def _google_step(param, grad, m, v, lr, weight_decay_rate, decay):
    """One step of Google's AdamWeightDecayOptimizer in NumPy (float64)."""
    m = 0.9 * m + 0.1 * grad
    v = 0.999 * v + 0.001 * grad ** 2
    update = m / (np.sqrt(v) + 1e-6)
    if decay:
        update = update + weight_decay_rate * param
    return param - lr * update, m, v


def _small_layers():
    dense = keras.layers.Dense(3, name="dense")
    dense.build((None, 4))
    norm = keras.layers.LayerNormalization(name="output_layer_norm")
    norm.build((None, 3))
    return [dense.kernel, dense.bias, norm.gamma]


@pytest.mark.parametrize("jit_compile", [True, False])
def test_two_update_steps_match_google_arithmetic(jit_compile, monkeypatch):
    # Only the kernel (4 x 3) is large enough to be compiled.
    monkeypatch.setattr(optimization, "COMPILED_UPDATE_MIN_SIZE", 12)
    variables = _small_layers()
    rng = np.random.default_rng(0)
    for variable in variables:
        variable.assign(rng.normal(size=variable.shape))
    # lr 0.1 then 0.09: the optimizer reads the schedule at the step count before the update.
    optimizer = AdamWeightDecay(learning_rate=WarmupLinearDecay(0.1, 10), weight_decay_rate=0.1,
                                jit_compile=jit_compile)
    apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables)))
    graph = apply.get_concrete_function(
        [tf.TensorSpec(v.shape, tf.float32) for v in variables]).graph.as_graph_def()
    assert xla_must_compile(graph) == int(jit_compile)
    params = [v.numpy().astype(np.float64) for v in variables]
    slots = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    decays = [True, False, False]  # kernel, bias, LayerNorm gamma
    for lr in (0.1, 0.09):
        grads = [rng.normal(size=v.shape).astype(np.float32) for v in variables]
        apply(grads)
        for i, (grad, decay) in enumerate(zip(grads, decays)):
            params[i], m, v = _google_step(params[i], grad, *slots[i], lr, 0.1, decay)
            slots[i] = (m, v)
    assert int(optimizer.iterations) == 2
    _assert_state(optimizer, variables, params, slots)
    # The decay term is large enough that the check above would catch its absence.
    no_decay, _, _ = _google_step(params[0], grads[0], *slots[0], 0.09, 0.1, False)
    assert np.abs(no_decay - params[0]).max() > 1e-3


def _assert_state(optimizer, variables, params, slots) -> None:
    """The variables and the optimizer's m and v slots equal the NumPy computation's."""
    for i, variable in enumerate(variables):
        np.testing.assert_allclose(variable.numpy(), params[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(optimizer._m[i].numpy(), slots[i][0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(optimizer._v[i].numpy(), slots[i][1], rtol=1e-5, atol=1e-9)


def _lamb_step(param, grad, m, v, step, lr, weight_decay_rate, excluded):
    """One LAMB step (You et al. 2019, Algorithm 2, Google's exclusions) in NumPy (float64)."""
    m = 0.9 * m + 0.1 * grad
    v = 0.999 * v + 0.001 * grad ** 2
    update = (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-6)
    if excluded:  # no weight decay, no layer adaptation
        return param - lr * update, m, v
    update = update + weight_decay_rate * param
    ratio = np.linalg.norm(param) / np.linalg.norm(update)
    return param - lr * ratio * update, m, v


@pytest.mark.parametrize("mode", ["graph", "uncompiled_update", "xla", "loss_scaled"])
def test_three_lamb_steps_match_the_papers_arithmetic(mode, monkeypatch):
    monkeypatch.setattr(optimization, "COMPILED_UPDATE_MIN_SIZE", 1)  # every update compiled
    variables = _small_layers()[:2]  # a decayed kernel, an excluded bias
    rng = np.random.default_rng(0)
    for variable in variables:
        variable.assign(rng.normal(size=variable.shape))
    # lr 0.1, 0.09, 0.08: the schedule read at the step count before each update.
    lamb = Lamb(learning_rate=WarmupLinearDecay(0.1, 10), weight_decay_rate=0.1,
                jit_compile=mode != "uncompiled_update")
    optimizer = keras.optimizers.LossScaleOptimizer(lamb) if mode == "loss_scaled" else lamb
    optimizer.build(variables)
    scale = float(optimizer.dynamic_scale) if mode == "loss_scaled" else 1.0
    apply = tf.function(lambda grads: optimizer.apply_gradients(
        zip([g * scale for g in grads], variables)), jit_compile=mode == "xla")
    params = [v.numpy().astype(np.float64) for v in variables]
    slots = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    for step, lr in enumerate((0.1, 0.09, 0.08), 1):
        grads = [rng.normal(size=v.shape).astype(np.float32) for v in variables]
        apply(grads)
        # The last step under the other variable's rule (with and without adaptation).
        swapped = [_lamb_step(params[i], grad, *slots[i], step, lr, 0.1, excluded)[0]
                   for i, (grad, excluded) in enumerate(zip(grads, (True, False)))]
        for i, (grad, excluded) in enumerate(zip(grads, (False, True))):
            params[i], m, v = _lamb_step(params[i], grad, *slots[i], step, lr, 0.1, excluded)
            slots[i] = (m, v)
    assert int(lamb.iterations) == 3
    _assert_state(lamb, variables, params, slots)
    # The two rules differ by far more than the tolerance above: the checks would catch a
    # missing adaptation of the kernel or an adapted (or decayed) bias.
    assert all(np.abs(other - param).max() > 1e-3 for other, param in zip(swapped, params))


def test_the_trust_ratio_is_one_when_a_norm_is_zero():
    assert float(trust_ratio(tf.zeros([3]), tf.ones([3]))) == 1.0
    assert float(trust_ratio(tf.ones([3]), tf.zeros([3]))) == 1.0
    assert float(trust_ratio(tf.fill([4], 3.0), tf.ones([4]))) == pytest.approx(3.0)


def test_sparse_gradient_updates_like_its_dense_equivalent():
    embeddings = [keras.Variable(np.ones((4, 2), np.float32), name=f"embeddings_{i}")
                  for i in range(2)]
    sparse = tf.IndexedSlices(tf.constant([[1.0, 2.0]]), tf.constant([1]), tf.constant([4, 2]))
    optimizers = [AdamWeightDecay(learning_rate=0.1) for _ in embeddings]
    for _ in range(2):
        optimizers[0].apply_gradients([(sparse, embeddings[0])])
        optimizers[1].apply_gradients([(tf.convert_to_tensor(sparse), embeddings[1])])
    np.testing.assert_array_equal(embeddings[0].numpy(), embeddings[1].numpy())
    # Rows absent from the batch are still decayed (Google's dense update).
    assert embeddings[0].numpy()[0, 0] < 1.0


def test_weight_decay_exclusions_on_bert_pretrainer(tiny_config):
    model = BertPretrainer(BertEncoder.from_bert_config(tiny_config))
    variables = model.trainable_variables
    optimizer = AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5)
    decayed = {v.path for v in variables if optimizer.applies_weight_decay(v)}
    assert decayed == {v.path for v in variables if v.name in ("kernel", "embeddings")}
    assert {"token_embedding/embeddings", "position_embedding/embeddings",
            "segment_embedding/embeddings", "nsp_head/kernel", "pooled_dense/kernel",
            "mlm_head/intermediate_dense/kernel",
            "transformer_layer_1/self_attention_layer/query/kernel"} <= decayed
    excluded = {v.path for v in variables} - decayed
    assert {v.name for v in variables if v.path in excluded} == {"gamma", "beta", "bias",
                                                                 "output_bias"}
    assert "mlm_head/output_bias" in excluded and "embeddings_layer_norm/gamma" in excluded
    # With zero gradients only the decay term moves weights: decayed ones shrink by lr·rate.
    before = [v.numpy() for v in variables]
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    for variable, old in zip(variables, before):
        factor = 1 - 0.1 * 0.5 if variable.path in decayed else 1.0
        np.testing.assert_allclose(variable.numpy(), old * factor, rtol=1e-6, atol=1e-8)


def test_clip_gradients_scales_by_global_norm_and_keeps_none():
    grads = [tf.constant([3.0, 4.0]), None, tf.constant([[12.0]])]  # global norm 13
    clipped = clip_gradients(grads, clip_norm=1.0)
    assert clipped[1] is None
    np.testing.assert_allclose(clipped[0].numpy(), np.array([3.0, 4.0]) / 13, rtol=1e-6)
    np.testing.assert_allclose(clipped[2].numpy(), np.array([[12.0]]) / 13, rtol=1e-6)
    unclipped = clip_gradients(grads, clip_norm=20.0)
    np.testing.assert_allclose(unclipped[0].numpy(), [3.0, 4.0], rtol=1e-6)


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_checkpoint_round_trip(tmp_path, name):
    def optimizer_and_variables():
        variables = _small_layers()
        optimizer = create_optimizer(0.1, num_train_steps=10, num_warmup_steps=0, optimizer=name)
        optimizer.build(variables)
        return optimizer, variables

    optimizer, variables = optimizer_and_variables()
    rng = np.random.default_rng(1)
    for _ in range(3):
        optimizer.apply_gradients(
            [(rng.normal(size=v.shape).astype(np.float32), v) for v in variables])
    path = tf.train.Checkpoint(optimizer=optimizer).save(str(tmp_path / "ckpt"))

    restored, _ = optimizer_and_variables()
    tf.train.Checkpoint(optimizer=restored).restore(path).assert_consumed()
    assert int(restored.iterations) == 3
    assert len(restored.variables) == len(optimizer.variables) == 1 + 2 * len(variables)
    for saved, loaded in zip(optimizer.variables, restored.variables):
        assert saved.path == loaded.path
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    assert float(restored.learning_rate) == pytest.approx(0.07)


# Runs in a fresh interpreter: logical devices must be configured before TF initializes them.
_TWO_REPLICA_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from biobert_tf.engine import optimization
    from biobert_tf.engine.optimization import clip_gradients, create_optimizer

    # Every update compiled, as large variables' are, on each replica's device.
    optimization.COMPILED_UPDATE_MIN_SIZE = 1
    # float64: 4 + 4 examples and 8 examples sum in a different order, and Adam's m / sqrt(v)
    # turns float32 rounding in near-zero gradient entries into ~1e-5 parameter differences.
    # In float64 any remaining difference is the algorithm's, not rounding.
    keras.config.set_floatx("float64")

    keras.utils.set_random_seed(0)
    GLOBAL_BATCH, STEPS = 8, 3
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, (STEPS, GLOBAL_BATCH, 5)).astype(np.int32)
    targets = rng.normal(size=(STEPS, GLOBAL_BATCH, 1))

    def make_model():
        inputs = keras.Input((5,), dtype="int32")
        x = keras.layers.Embedding(20, 8, name="embedding")(inputs)
        x = keras.layers.GlobalAveragePooling1D()(x)
        x = keras.layers.Dense(8, activation="tanh", name="dense")(x)
        x = keras.layers.LayerNormalization(name="layer_norm")(x)
        return keras.Model(inputs, keras.layers.Dense(1, name="head")(x))

    def loss_and_grads(model, x, y, scale=1.0):
        with tf.GradientTape() as tape:
            # Per-example losses summed and divided by the global batch size.
            loss = tf.reduce_sum(tf.square(model(x) - y)) / GLOBAL_BATCH
            loss = loss * tf.cast(scale, loss.dtype)
        return tape.gradient(loss, model.trainable_variables)

    reference = make_model()
    initial = reference.get_weights()
    optimizer = create_optimizer(0.1, num_train_steps=10, num_warmup_steps=1)
    optimizer.build(reference.trainable_variables)

    @tf.function
    def reference_step(x, y):
        grads = loss_and_grads(reference, x, y)
        optimizer.apply_gradients(zip(clip_gradients(grads), reference.trainable_variables))
        return tf.linalg.global_norm(grads)

    grad_norms = [float(reference_step(ids[s], targets[s])) for s in range(STEPS)]
    grad_types = sorted({type(g).__name__ for g in loss_and_grads(reference, ids[0], targets[0])})
    expected = [v.numpy() for v in reference.trainable_variables + optimizer.variables]

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    def divide(grad, n):
        if isinstance(grad, tf.IndexedSlices):
            return tf.IndexedSlices(grad.values / n, grad.indices, grad.dense_shape)
        return grad / n

    def run(pattern):
        with strategy.scope():
            model = make_model()
            model.set_weights(initial)
            aggregate = not pattern.endswith("no_aggregation")
            opt = adam = create_optimizer(0.1, num_train_steps=10, num_warmup_steps=1,
                                          aggregate_gradients=aggregate)
            if pattern.startswith("loss_scaled"):
                opt = keras.optimizers.LossScaleOptimizer(adam)
            opt.build(model.trainable_variables)

        def replica_step(x, y):
            ctx = tf.distribute.get_replica_context()
            scale = opt.dynamic_scale if opt is not adam else 1.0
            grads = loss_and_grads(model, x, y, scale)
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            # Clipping scaled gradients at 1.0 * scale equals clipping the true ones at 1.0.
            grads = clip_gradients(grads, tf.cast(scale, tf.float64))
            if pattern == "reduced_divided":
                grads = [divide(g, strategy.num_replicas_in_sync) for g in grads]
            opt.apply_gradients(zip(grads, model.trainable_variables))

        @tf.function  # traced once: its arguments are tensors
        def step(x, y):
            strategy.run(replica_step, args=(x, y))

        for s in range(STEPS):
            step(*(strategy.experimental_distribute_values_from_function(
                lambda ctx: tf.constant(values[s][ctx.replica_id_in_sync_group * 4:][:4]))
                for values in (ids, targets)))
        # Every replica's copy: each device updates its own.
        got = [strategy.experimental_local_results(v.value)
               for v in model.trainable_variables + adam.variables]
        return max(float(np.abs(copy.numpy() - b).max())
                   for copies, b in zip(got, expected) for copy in copies)

    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync, "grad_norms": grad_norms,
        "grad_types": grad_types,
        "reduced_no_aggregation": run("reduced_no_aggregation"),
        "reduced_divided": run("reduced_divided"),
        "loss_scaled_no_aggregation": run("loss_scaled_no_aggregation"),
    }))
""")


def test_two_replica_step_equals_one_device_step():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([*python(), "-c", _TWO_REPLICA_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert all(norm > 1.0 for norm in result["grad_norms"])  # clipping was active
    assert "IndexedSlices" in result["grad_types"]  # the sparse path was exercised
    # Recommended: the loop all-reduces and clips; the optimizer does not sum again.
    assert result["reduced_no_aggregation"] < 1e-9
    # Alternative with Keras' default aggregation: pass the reduced gradients / replicas. That
    # this is exact shows the default sums across replicas: passing the reduced gradients
    # undivided would sum them twice (and double the m slots compared), not equivalent.
    assert result["reduced_divided"] < 1e-9
    # The flag also holds under Keras' LossScaleOptimizer (mixed float16 training).
    assert result["loss_scaled_no_aggregation"] < 1e-9
