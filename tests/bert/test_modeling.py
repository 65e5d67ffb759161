import keras
import numpy as np
import pytest

from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import (BertEncoder, BertLayer, BertPretrainer, compiled,
                                     elementwise_xla, gelu_erf, keras_activation)
from helpers import xla_must_compile


def _inputs(batch=2, length=12, vocab=64, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), np.int32)
    mask[1, 7:] = 0
    return {"token_ids": rng.integers(0, vocab, (batch, length)).astype(np.int32) * mask,
            "segment_ids": (np.arange(length) >= 5).astype(np.int32)[None].repeat(batch, 0) * mask,
            "padding_mask": mask}


def test_encoder_shapes_and_google_defaults(tiny_config):
    encoder = BertEncoder.from_bert_config(tiny_config)
    out = encoder(_inputs())
    assert out["sequence_output"].shape == (2, 12, 16) and out["pooled_output"].shape == (2, 16)
    layer = encoder.transformer_layers[0]
    assert layer.layer_norm_epsilon == 1e-12 and encoder.embeddings_layer_norm.epsilon == 1e-12
    assert encoder.bert_config() == tiny_config


@pytest.mark.parametrize("training", [False, True])
def test_bert_layer_computes_keras_hubs_transformer_encoder(training):
    """The same weights (paths too), outputs, gradients and, in training, dropout masks."""
    import tensorflow as tf
    from keras_hub.layers import TransformerEncoder

    inputs = keras.random.normal((2, 12, 16), seed=3)
    mask = _inputs()["padding_mask"]
    upstream = keras.random.normal((2, 12, 16), seed=4)
    outputs, gradients, layers = [], [], []
    for layer_class in (TransformerEncoder, BertLayer):
        keras.utils.set_random_seed(7)  # the dropout layers draw their seeds when built
        layer = layer_class(num_heads=4, intermediate_dim=32, activation=gelu_erf, dropout=0.1,
                            layer_norm_epsilon=1e-12, name="layer")
        layer(inputs, padding_mask=mask)
        if layers:
            layer.set_weights(layers[0].get_weights())
        layers.append(layer)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            output = layer(inputs, padding_mask=mask, training=training)
        outputs.append(output.numpy())
        gradients.append([g.numpy() for g in tape.gradient(
            output, [inputs, *layer.trainable_variables], upstream)])
    assert [w.path for w in layers[0].weights] == [w.path for w in layers[1].weights]
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-6)
    for got, expected in zip(gradients[1], gradients[0]):
        np.testing.assert_allclose(got, expected, atol=2e-5)
    if training:  # dropout was on, so the comparison above covered its masks
        inference = layers[1](inputs, padding_mask=mask, training=False).numpy()
        assert np.abs(outputs[1] - inference).max() > 0.1
    with pytest.raises(ValueError, match="post-norm"):
        BertLayer(num_heads=4, intermediate_dim=32, normalize_first=True)


def test_bert_base_has_the_published_parameter_count():
    config = BertConfig(vocab_size=28996)  # BERT-base-cased = BioBERT v1.1
    assert BertEncoder.from_bert_config(config).count_params() == 108_310_272


def test_padding_does_not_change_real_positions(tiny_config):
    encoder = BertEncoder.from_bert_config(tiny_config)
    full = _inputs()
    short = {k: v[1:2, :7] for k, v in full.items()}
    padded = encoder(full)["sequence_output"].numpy()[1, :7]
    alone = encoder(short)["sequence_output"].numpy()[0]
    np.testing.assert_allclose(padded, alone, atol=1e-6)


def test_activation_follows_config(tiny_config):
    import dataclasses
    tanh = BertEncoder.from_bert_config(tiny_config)
    exact = BertEncoder.from_bert_config(dataclasses.replace(tiny_config, hidden_act="gelu_exact"))
    exact.set_weights(tanh.get_weights())
    a, b = (m(_inputs())["sequence_output"].numpy() for m in (tanh, exact))
    assert 1e-7 < np.abs(a - b).max() < 1e-2  # same weights, slightly different GELU


def test_pretrainer_outputs_and_tied_decoder(tiny_config):
    model = BertPretrainer(BertEncoder.from_bert_config(tiny_config))
    inputs = dict(_inputs(), masked_lm_positions=np.array([[1, 3, 5], [2, 4, 6]], np.int32))
    out = model(inputs)
    assert out["mlm_logits"].shape == (2, 3, 64) and out["nsp_logits"].shape == (2, 2)
    assert model.mlm_head.token_embedding is model.encoder.token_embedding
    # The decoder has no matrix of its own: only the output bias is added.
    head_weights = {w.path.split("/")[-1] for w in model.mlm_head.weights
                    if w is not model.encoder.token_embedding.embeddings}
    assert "output_kernel" not in head_weights and "output_bias" in head_weights


def test_keras_serialization_round_trip(tmp_path, tiny_config):
    model = BertPretrainer(BertEncoder.from_bert_config(tiny_config))
    inputs = dict(_inputs(), masked_lm_positions=np.array([[1, 3], [2, 4]], np.int32))
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    for key in ("mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(model(inputs)[key], restored(inputs)[key])


def test_different_dropout_rates_warn(tiny_config, caplog):
    import dataclasses
    from absl import logging
    logging.set_verbosity(logging.WARNING)
    BertEncoder.from_bert_config(dataclasses.replace(tiny_config, attention_probs_dropout_prob=0.0))
    assert "attention_probs_dropout_prob" in caplog.text


@pytest.mark.parametrize("hidden_act", ["relu", "tanh", "linear"])
def test_other_google_activations_build(tiny_config, hidden_act):
    import dataclasses
    encoder = BertEncoder.from_bert_config(dataclasses.replace(tiny_config, hidden_act=hidden_act))
    assert np.isfinite(encoder(_inputs())["pooled_output"].numpy()).all()


def test_exact_gelu_is_keras_exact_gelu():
    x = np.linspace(-8, 8, 2001, dtype=np.float32)
    # 1 + erf cancels for x below about -5: absolute errors of float32's epsilon.
    np.testing.assert_allclose(gelu_erf(x), keras.activations.gelu(x, approximate=False),
                               atol=1e-6, rtol=1e-6)
    # In bfloat16 the two differ by bfloat16's rounding only.
    x16 = keras.ops.cast(x, "bfloat16")
    np.testing.assert_allclose(keras.ops.cast(gelu_erf(x16), "float32"),
                               keras.activations.gelu(x, approximate=False), atol=0.04, rtol=0.01)


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_exact"])
def test_compiled_activation_computes_the_activation_and_its_gradient(hidden_act):
    import tensorflow as tf

    activation = keras_activation(hidden_act)
    x = tf.linspace(-6.0, 6.0, 1001)
    upstream = tf.sin(3.0 * x) + 1.5
    results = []
    for fn in (activation, compiled(activation)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        results.append((y.numpy(), tape.gradient(y, x, upstream).numpy()))
    (y, dx), (compiled_y, compiled_dx) = results
    np.testing.assert_allclose(compiled_y, y, atol=1e-6)
    np.testing.assert_allclose(compiled_dx, dx, atol=1e-5)
    assert dx.min() < 0 < dx.max()  # the gradient is the activation's, not the upstream's
    # bfloat16 in, bfloat16 out (computed in float32 in between).
    x16 = tf.cast(x, tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(x16)
        y16 = compiled(activation)(x16)
    dx16 = tape.gradient(y16, x16, tf.cast(upstream, tf.bfloat16))
    assert y16.dtype == dx16.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(dx16, tf.float32).numpy(), dx, atol=0.05, rtol=0.02)


def test_training_compiles_the_elementwise_work_unless_told_not_to(tiny_config):
    import tensorflow as tf

    encoder = BertEncoder.from_bert_config(tiny_config)
    inputs = {k: tf.constant(v) for k, v in _inputs().items()}

    def compiled_functions(training, enabled=True):
        @tf.function
        def call():
            with elementwise_xla(enabled):
                return encoder(inputs, training=training)["sequence_output"]
        return xla_must_compile(call.get_concrete_function().graph.as_graph_def())

    # The GELU's and the LayerNorms' (one function for both) forward passes; the backward
    # passes are traced with the gradient.
    assert compiled_functions(training=True) == 2
    assert compiled_functions(training=True, enabled=False) == 0
    assert compiled_functions(training=False) == 0
