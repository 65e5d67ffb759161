"""Independent NumPy reference for the BERT encoder forward pass.

Weights use HuggingFace ``BertModel`` names (an optional leading ``bert.`` is
stripped on load).  Linear layers follow the torch convention: ``weight`` has
shape ``[out, in]`` and ``y = x @ W.T + b``.  All arithmetic is done in
float64 so that this serves as a high-precision oracle for the TF model.
"""

import math

import numpy as np
from safetensors.numpy import load_file

try:  # scipy's erf is exact to double precision and vectorised.
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover - fallback when scipy is absent
    _erf = np.vectorize(math.erf, otypes=[np.float64])

MASK_ADDER = -10000.0


def load_safetensors(path):
    """Load a ``.safetensors`` file into ``{name: ndarray}``.

    A leading ``bert.`` prefix (as in ``BertForPreTraining`` checkpoints) is
    removed so that names match plain ``BertModel`` names.
    """
    weights = {}
    for name, value in load_file(str(path)).items():
        if name.startswith("bert."):
            name = name[len("bert."):]
        weights[name] = value
    return weights


def gelu_exact(x):
    """GELU via the Gaussian CDF: ``0.5 * x * (1 + erf(x / sqrt(2)))``."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    """Tanh approximation of GELU (as in Google's original BERT code)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, gamma, beta, eps):
    """Normalise over the last axis, then scale and shift."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _param(weights, name):
    return np.asarray(weights[name], dtype=np.float64)


def _dense(weights, prefix, x):
    """torch-style Linear: ``x @ W.T + b``."""
    return x @ _param(weights, prefix + ".weight").T + _param(weights, prefix + ".bias")


def _layer_norm(weights, prefix, x, eps):
    return layer_norm(x, _param(weights, prefix + ".weight"),
                      _param(weights, prefix + ".bias"), eps)


def _softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _self_attention(weights, prefix, h, mask_bias, num_heads):
    """Multi-head scaled dot-product self-attention (before output proj)."""
    batch, length, hidden = h.shape
    head_dim = hidden // num_heads

    def heads(name):
        y = _dense(weights, f"{prefix}.attention.self.{name}", h)
        return y.reshape(batch, length, num_heads, head_dim).transpose(0, 2, 1, 3)

    q, k, v = heads("query"), heads("key"), heads("value")
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim)  # [B, H, L, L]
    probs = _softmax(scores + mask_bias)
    context = probs @ v  # [B, H, L, D]
    return context.transpose(0, 2, 1, 3).reshape(batch, length, hidden)


def bert_forward(weights, config, token_ids, segment_ids, attention_mask, gelu="exact"):
    """Run the BERT encoder and pooler.

    Args:
        weights: ``{hf_name: array}`` as returned by :func:`load_safetensors`.
        config: HuggingFace ``config.json`` dict (``hidden_size``,
            ``num_attention_heads``, ``num_hidden_layers``, optional
            ``layer_norm_eps`` defaulting to 1e-12).
        token_ids, segment_ids, attention_mask: int arrays of shape [B, L];
            mask is 1 for real tokens and 0 for padding.
        gelu: ``"exact"`` (erf-based) or ``"tanh"`` (approximation).

    Returns:
        ``(sequence_output [B, L, H], pooled_output [B, H])`` as float64;
        ``pooled_output`` is ``None`` if the weights have no pooler.
    """
    activation = {"exact": gelu_exact, "tanh": gelu_tanh}[gelu]
    eps = config.get("layer_norm_eps", 1e-12)
    num_heads = config["num_attention_heads"]

    token_ids = np.asarray(token_ids, dtype=np.int64)
    segment_ids = np.asarray(segment_ids, dtype=np.int64)
    attention_mask = np.asarray(attention_mask, dtype=np.float64)
    length = token_ids.shape[1]

    # Embeddings: word + absolute position + segment, then LayerNorm.
    h = (_param(weights, "embeddings.word_embeddings.weight")[token_ids]
         + _param(weights, "embeddings.position_embeddings.weight")[:length][None]
         + _param(weights, "embeddings.token_type_embeddings.weight")[segment_ids])
    h = _layer_norm(weights, "embeddings.LayerNorm", h, eps)

    # Additive bias over keys, broadcast to [B, heads, queries, keys].
    mask_bias = ((1.0 - attention_mask) * MASK_ADDER)[:, None, None, :]

    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        context = _self_attention(weights, p, h, mask_bias, num_heads)
        attn_out = _dense(weights, f"{p}.attention.output.dense", context)
        h = _layer_norm(weights, f"{p}.attention.output.LayerNorm", attn_out + h, eps)
        inter = activation(_dense(weights, f"{p}.intermediate.dense", h))
        ffn_out = _dense(weights, f"{p}.output.dense", inter)
        h = _layer_norm(weights, f"{p}.output.LayerNorm", ffn_out + h, eps)

    pooled = None
    if "pooler.dense.weight" in weights:
        pooled = np.tanh(_dense(weights, "pooler.dense", h[:, 0]))
    return h, pooled
