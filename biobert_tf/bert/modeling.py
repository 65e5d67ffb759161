"""The BERT encoder and its pretraining heads, on keras-hub layers.

`BertEncoder` is keras-hub's `BertBackbone` made configurable where Google BERT
checkpoints need it: the FFN activation (keras-hub hard-codes the tanh GELU, but
HuggingFace BERT checkpoints use the exact one) and the initializer range. Its
layers and their names are identical to `BertBackbone`'s, so weights move between
the two with `set_weights` (see `checkpoints.save_keras_preset`).

The pretraining heads are Google's: the MLM transform (dense + activation +
LayerNorm ε 1e-12) with a decoder tied to the word embeddings plus an output bias,
and a two-way NSP classifier on the pooled output. keras-hub's `BertMaskedLM`
uses exact GELU and ε 1e-5, so it cannot host Google's `cls/predictions` weights.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import keras
import keras_hub
import tensorflow as tf
from absl import logging
from keras.layers import ReversibleEmbedding
from keras_hub.layers import MaskedLMHead, PositionEmbedding, TransformerEncoder

from biobert_tf.bert.config import BertConfig

LAYER_NORM_EPSILON = 1e-12


@keras.saving.register_keras_serializable(package="biobert_tf")
def gelu_erf(x):
    """The exact GELU as Google BERT and torch write it, 0.5·x·(1 + erf(x/√2)). Keras' own
    exact "gelu" is the same function through erfc, whose TensorFlow CPU kernel took 3x the
    time (bfloat16: 50 against 16 ms for 8192 x 1536 values), so that a bfloat16 MiniLM NER
    export served 1.42x slower (docs/benchmarks.md)."""
    return 0.5 * x * (1.0 + keras.ops.erf(x * 0.7071067811865476))


# Serializable Keras activations for BertConfig.hidden_act. "gelu" is Google's
# tanh approximation, "gelu_exact" the erf form.
_KERAS_ACTIVATIONS = {
    "gelu": keras_hub.src.utils.keras_utils.gelu_approximate,
    "gelu_exact": gelu_erf,
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}


def keras_activation(hidden_act: str):
    return _KERAS_ACTIVATIONS[hidden_act]


@functools.cache
def compiled(fn):
    """`fn` (of tensors, returning one) for training: its forward and its backward pass each
    one XLA-compiled pass computing in float32; the output and each gradient take the dtype
    of the input they belong to.

    TensorFlow runs the tanh GELU as ~8 elementwise kernels forward and more backward, each a
    pass over [tokens, 3072] values, and LayerNorm as a dozen. In a bfloat16 BERT-base step
    (batch 8, 2.1 s on 2 cores) the GELUs took 125 ms, compiled 41; the LayerNorms 69-73 ms,
    compiled 32-33 (bench/step_parts.py). The backward pass recomputes `fn` from its inputs
    rather than keep more tensors. Inference keeps the plain functions, which oneDNN fuses
    into the matmul before them.
    """
    def in_float32(args):
        return [tf.cast(arg, tf.float32) for arg in args]

    @tf.function(jit_compile=True, autograph=False)
    def forward(*args):
        return tf.cast(fn(*in_float32(args)), args[0].dtype)

    @tf.function(jit_compile=True, autograph=False)
    def backward(upstream, *args):
        args32 = in_float32(args)
        with tf.GradientTape() as tape:
            tape.watch(args32)
            y = fn(*args32)
        gradients = tape.gradient(y, args32, tf.cast(upstream, tf.float32))
        return [tf.cast(gradient, arg.dtype) for gradient, arg in zip(gradients, args)]

    @tf.custom_gradient
    def compiled_fn(*args):
        return forward(*args), lambda upstream: backward(upstream, *args)

    return compiled_fn


# Read when a layer is traced: whether training runs its elementwise work `compiled`.
_ELEMENTWISE_XLA = contextvars.ContextVar("elementwise_xla", default=True)


@contextlib.contextmanager
def elementwise_xla(enabled: bool):
    """Whether layers traced inside run their training-mode activation and LayerNorms
    `compiled` (the default) or as TensorFlow's ops: off for jobs that ask for no XLA at all
    (--nojit_compile)."""
    token = _ELEMENTWISE_XLA.set(enabled)
    try:
        yield
    finally:
        _ELEMENTWISE_XLA.reset(token)


@functools.cache
def layer_norm(epsilon: float):
    """LayerNorm over the last axis as Keras' `LayerNormalization` computes it (in float32),
    as a function of (x, gamma, beta) for `compiled`."""
    def normalize(x, gamma, beta):
        mean, variance = tf.nn.moments(x, [-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta
    return normalize


def _initializer(stddev: float):
    # Google BERT: truncated normal with stddev initializer_range.
    return keras.initializers.TruncatedNormal(stddev=stddev)


@keras.saving.register_keras_serializable(package="biobert_tf")
class BertLayer(TransformerEncoder):
    """One BERT layer: keras-hub's post-norm `TransformerEncoder` (the same sublayers, names
    and weights, so checkpoints move between them), computed on [tokens, hidden] matrices.

    Keras computes its projections on [batch, seq, ...] tensors, reshaping around each
    matmul (Dense) or running an einsum (the attention's EinsumDense), which keeps
    TensorFlow's graph optimizer from fusing matmul, bias and GELU into one oneDNN kernel.
    Here every projection is a matrix product followed directly by its bias (and GELU),
    which oneDNN fuses; query, key and value share one product; and the padding is masked by
    adding -10000 to the scores of padded keys, as Google BERT does: one pass where Keras'
    masked softmax makes two. On an AVX512-BF16 CPU the bfloat16 BERT-base pretraining step
    took ~6 % less time, and MiniLM's NER export served 1.19x faster (docs/benchmarks.md).
    Outputs equal keras-hub's, and in training the dropout layers draw the same masks
    (tests/bert/test_modeling.py); only a row without any real position (all padding)
    differs, and its output is never used.
    """

    def __init__(self, *args, normalize_first: bool = False, **kwargs):
        if normalize_first:
            raise ValueError("BertLayer is post-norm, as BERT is")
        super().__init__(*args, **kwargs)

    def call(self, inputs, padding_mask=None, training=None):
        shape, hidden = keras.ops.shape(inputs), inputs.shape[-1]
        x = self._attention(keras.ops.reshape(inputs, (-1, hidden)), shape, padding_mask,
                            training)
        x = self._normalize(self._self_attention_layer_norm,
                            self._self_attention_dropout(x, training=training) + inputs, training)
        y = self._feedforward_output_dense(self._intermediate(
            keras.ops.reshape(x, (-1, hidden)), training))
        y = self._feedforward_dropout(keras.ops.reshape(y, shape), training=training)
        return self._normalize(self._feedforward_layer_norm, y + x, training)

    # In training, activation and LayerNorm run `compiled` (unless `elementwise_xla(False)`);
    # inference keeps Keras' layers.
    def _intermediate(self, tokens, training):
        """The feed-forward block's first projection and its activation."""
        dense = self._feedforward_intermediate_dense
        if not (training and _ELEMENTWISE_XLA.get()):
            return dense(tokens)
        return compiled(dense.activation)(
            tf.nn.bias_add(keras.ops.matmul(tokens, dense.kernel), dense.bias))

    def _normalize(self, norm, x, training):
        """`norm` (a Keras LayerNormalization over the last axis) of `x`."""
        if not (training and _ELEMENTWISE_XLA.get()):
            return norm(x)
        gamma, beta = (tf.convert_to_tensor(w) for w in (norm.gamma, norm.beta))
        return compiled(layer_norm(norm.epsilon))(x, gamma, beta)

    def _attention(self, tokens, shape, padding_mask, training):
        """Keras' MultiHeadAttention (its weights, its dropout) of [batch * seq, hidden]
        `tokens`; returns [batch, seq, hidden]."""
        attention, ops, hidden = self._self_attention_layer, keras.ops, tokens.shape[-1]

        # Query, key and value in one product: [tokens, 3 * hidden].
        projections = (attention._query_dense, attention._key_dense, attention._value_dense)
        kernel = ops.concatenate([ops.reshape(p.kernel, (hidden, -1)) for p in projections], 1)
        bias = ops.concatenate([ops.reshape(p.bias, (-1,)) for p in projections], 0)
        projected = ops.reshape(tf.nn.bias_add(ops.matmul(tokens, kernel), bias),
                                (shape[0], shape[1], 3, self.num_heads, -1))
        # Each [batch, heads, seq, head size].
        query, key, value = ops.unstack(ops.transpose(projected, (2, 0, 3, 1, 4)))
        query = query * ops.cast(attention._inverse_sqrt_key_dim, tokens.dtype)
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
        if padding_mask is not None:
            padded = 1.0 - ops.cast(padding_mask, scores.dtype)[:, None, None, :]
            scores = scores + padded * -10000.0
        probabilities = attention._dropout_layer(ops.softmax(scores, axis=-1), training=training)
        context = ops.transpose(ops.matmul(probabilities, value), (0, 2, 1, 3))
        output = attention._output_dense
        context = tf.nn.bias_add(ops.matmul(ops.reshape(context, (-1, hidden)),
                                            ops.reshape(output.kernel, (-1, hidden))),
                                 output.bias)
        return ops.reshape(context, shape)


@keras.saving.register_keras_serializable(package="biobert_tf")
class BertEncoder(keras_hub.models.Backbone):
    """Google-BERT encoder: inputs `token_ids`, `segment_ids`, `padding_mask` (all [batch, seq]);
    outputs `sequence_output` [batch, seq, hidden] and `pooled_output` [batch, hidden]."""

    def __init__(self, vocabulary_size: int, num_layers: int, num_heads: int, hidden_dim: int,
                 intermediate_dim: int, hidden_act: str = "gelu", dropout: float = 0.1,
                 max_sequence_length: int = 512, num_segments: int = 2,
                 initializer_range: float = 0.02, dtype=None, **kwargs):
        init = _initializer(initializer_range)
        self.token_embedding = ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=init, dtype=dtype,
            name="token_embedding")
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length, initializer=init, dtype=dtype,
            name="position_embedding")
        self.segment_embedding = keras.layers.Embedding(
            num_segments, hidden_dim, embeddings_initializer=init, dtype=dtype,
            name="segment_embedding")
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, dtype=dtype, name="embeddings_layer_norm")
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype,
                                                       name="embeddings_dropout")
        self.transformer_layers = [
            BertLayer(num_heads=num_heads, intermediate_dim=intermediate_dim,
                      activation=keras_activation(hidden_act), dropout=dropout,
                      layer_norm_epsilon=LAYER_NORM_EPSILON, kernel_initializer=init,
                      dtype=dtype, name=f"transformer_layer_{i}")
            for i in range(num_layers)]
        self.pooled_dense = keras.layers.Dense(hidden_dim, activation="tanh",
                                               kernel_initializer=init, dtype=dtype,
                                               name="pooled_dense")

        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        tokens = self.token_embedding(token_ids)
        x = self.embeddings_add((tokens, self.position_embedding(tokens),
                                 self.segment_embedding(segment_ids)))
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        for layer in self.transformer_layers:
            x = layer(x, padding_mask=padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "segment_ids": segment_ids,
                    "padding_mask": padding_mask},
            outputs={"sequence_output": x, "pooled_output": self.pooled_dense(x[:, 0, :])},
            dtype=dtype, **kwargs)

        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.hidden_act = hidden_act
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.initializer_range = initializer_range

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, num_layers=self.num_layers,
                      num_heads=self.num_heads, hidden_dim=self.hidden_dim,
                      intermediate_dim=self.intermediate_dim, hidden_act=self.hidden_act,
                      dropout=self.dropout, max_sequence_length=self.max_sequence_length,
                      num_segments=self.num_segments, initializer_range=self.initializer_range)
        return config

    @classmethod
    def from_bert_config(cls, config: BertConfig, dtype=None) -> "BertEncoder":
        if config.attention_probs_dropout_prob != config.hidden_dropout_prob:
            # keras-hub's TransformerEncoder has a single dropout rate.
            logging.warning("attention_probs_dropout_prob=%s differs from hidden_dropout_prob=%s; "
                            "keras-hub layers use one rate, so %s is used for both",
                            config.attention_probs_dropout_prob, config.hidden_dropout_prob,
                            config.hidden_dropout_prob)
        return cls(vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
                   num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
                   intermediate_dim=config.intermediate_size, hidden_act=config.hidden_act,
                   dropout=config.hidden_dropout_prob,
                   max_sequence_length=config.max_position_embeddings,
                   num_segments=config.type_vocab_size,
                   initializer_range=config.initializer_range, dtype=dtype)

    def bert_config(self) -> BertConfig:
        return BertConfig(
            vocab_size=self.vocabulary_size, hidden_size=self.hidden_dim,
            num_hidden_layers=self.num_layers, num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_dim, hidden_act=self.hidden_act,
            hidden_dropout_prob=self.dropout, attention_probs_dropout_prob=self.dropout,
            max_position_embeddings=self.max_sequence_length, type_vocab_size=self.num_segments,
            initializer_range=self.initializer_range)


@keras.saving.register_keras_serializable(package="biobert_tf")
class BertPretrainer(keras.Model):
    """Encoder + Google's MLM and NSP heads.

    Inputs: the encoder's three plus `masked_lm_positions` [batch, predictions].
    Outputs: `mlm_logits` [batch, predictions, vocab] and `nsp_logits` [batch, 2].
    """

    def __init__(self, encoder: BertEncoder, **kwargs):
        init = _initializer(encoder.initializer_range)
        self.encoder = encoder
        self.mlm_head = MaskedLMHead(
            token_embedding=encoder.token_embedding,
            intermediate_activation=keras_activation(encoder.hidden_act),
            layer_norm_epsilon=LAYER_NORM_EPSILON, kernel_initializer=init,
            dtype=encoder.dtype_policy, name="mlm_head")
        self.nsp_head = keras.layers.Dense(2, kernel_initializer=init,
                                           dtype=encoder.dtype_policy, name="nsp_head")
        inputs = dict(encoder.input)
        inputs["masked_lm_positions"] = keras.Input(shape=(None,), dtype="int32",
                                                    name="masked_lm_positions")
        outputs = encoder({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        super().__init__(
            inputs=inputs,
            outputs={
                "mlm_logits": self.mlm_head(outputs["sequence_output"],
                                            mask_positions=inputs["masked_lm_positions"]),
                "nsp_logits": self.nsp_head(outputs["pooled_output"]),
            },
            **kwargs)

    def get_config(self):
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
