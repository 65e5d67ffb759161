"""Checkpoint import and export: Google/BioBERT TF1, HuggingFace safetensors, keras-hub presets.

Every format is translated to one canonical form, a dict from Google BERT's TF1
variable names (`bert/encoder/layer_0/attention/self/query/kernel`, ...) to NumPy
arrays in Google's shapes. `_slots` ties each canonical name to a variable of our
Keras model with the reshape between the two layouts, so loading and exporting
are the same table read in opposite directions.

keras-hub ships its own HF→BertBackbone converter, but it builds keras-hub's
fixed tanh-GELU backbone from the hub loader and drops the MLM/NSP heads; going
through the TF1 names gives one code path for all three formats, heads included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf.bert.config import BertConfig, ConfigError, read_json_object
from biobert_tf.bert.modeling import BertEncoder, BertPretrainer
from biobert_tf.bert.tokenization import load_vocab

BERT_CONFIG_NAME = "bert_config.json"
HF_CONFIG_NAME = "config.json"
VOCAB_NAME = "vocab.txt"
SAFETENSORS_NAME = "model.safetensors"
# Optimizer state and bookkeeping in Google/BioBERT checkpoints: never model weights.
_OPTIMIZER_VARIABLE = re.compile(r"(/adam_[mv]$)|(^global_step$)")


class CheckpointError(ValueError):
    """A checkpoint cannot be read, or does not match the model."""


@dataclasses.dataclass
class Checkpoint:
    """Weights under Google TF1 names plus the config and vocab found beside them."""

    config: BertConfig
    weights: dict[str, np.ndarray]
    vocab_file: str | None
    source: str


@dataclasses.dataclass(frozen=True)
class _Slot:
    name: str  # Google TF1 variable name
    variable: object  # keras.Variable
    to_keras: Callable[[np.ndarray], np.ndarray]
    to_tf1: Callable[[np.ndarray], np.ndarray]


def _same(x):
    return x


def _reshaped(keras_shape, tf1_shape):
    return (lambda x: np.reshape(x, keras_shape)), (lambda x: np.reshape(x, tf1_shape))


def _encoder_slots(encoder: BertEncoder) -> list[_Slot]:
    hidden = encoder.hidden_dim
    slots = [
        _Slot("bert/embeddings/word_embeddings", encoder.token_embedding.embeddings, _same, _same),
        _Slot("bert/embeddings/token_type_embeddings", encoder.segment_embedding.embeddings,
              _same, _same),
        _Slot("bert/embeddings/position_embeddings",
              encoder.position_embedding.position_embeddings, _same, _same),
        _Slot("bert/embeddings/LayerNorm/gamma", encoder.embeddings_layer_norm.gamma, _same, _same),
        _Slot("bert/embeddings/LayerNorm/beta", encoder.embeddings_layer_norm.beta, _same, _same),
    ]
    for i, layer in enumerate(encoder.transformer_layers):
        prefix = f"bert/encoder/layer_{i}/"
        attention = layer._self_attention_layer
        heads, head_dim = encoder.num_heads, hidden // encoder.num_heads
        for part, dense in (("query", attention._query_dense), ("key", attention._key_dense),
                            ("value", attention._value_dense)):
            slots.append(_Slot(f"{prefix}attention/self/{part}/kernel", dense.kernel,
                               *_reshaped((hidden, heads, head_dim), (hidden, hidden))))
            slots.append(_Slot(f"{prefix}attention/self/{part}/bias", dense.bias,
                               *_reshaped((heads, head_dim), (hidden,))))
        output = attention._output_dense
        slots += [
            _Slot(f"{prefix}attention/output/dense/kernel", output.kernel,
                  *_reshaped((heads, head_dim, hidden), (hidden, hidden))),
            _Slot(f"{prefix}attention/output/dense/bias", output.bias, _same, _same),
        ]
        for name, norm in (("attention/output/LayerNorm", layer._self_attention_layer_norm),
                           ("output/LayerNorm", layer._feedforward_layer_norm)):
            slots += [_Slot(f"{prefix}{name}/gamma", norm.gamma, _same, _same),
                      _Slot(f"{prefix}{name}/beta", norm.beta, _same, _same)]
        for name, dense in (("intermediate/dense", layer._feedforward_intermediate_dense),
                            ("output/dense", layer._feedforward_output_dense)):
            slots += [_Slot(f"{prefix}{name}/kernel", dense.kernel, _same, _same),
                      _Slot(f"{prefix}{name}/bias", dense.bias, _same, _same)]
    slots += [_Slot("bert/pooler/dense/kernel", encoder.pooled_dense.kernel, _same, _same),
              _Slot("bert/pooler/dense/bias", encoder.pooled_dense.bias, _same, _same)]
    return slots


def _head_slots(model: BertPretrainer) -> list[_Slot]:
    mlm = model.mlm_head
    return [
        _Slot("cls/predictions/transform/dense/kernel", mlm._intermediate_dense.kernel,
              _same, _same),
        _Slot("cls/predictions/transform/dense/bias", mlm._intermediate_dense.bias, _same, _same),
        _Slot("cls/predictions/transform/LayerNorm/gamma", mlm._intermediate_layer_norm.gamma,
              _same, _same),
        _Slot("cls/predictions/transform/LayerNorm/beta", mlm._intermediate_layer_norm.beta,
              _same, _same),
        _Slot("cls/predictions/output_bias", mlm._bias, _same, _same),
        # Google stores the NSP matrix as [2, hidden]; a Dense kernel is [hidden, 2].
        _Slot("cls/seq_relationship/output_weights", model.nsp_head.kernel, np.transpose,
              np.transpose),
        _Slot("cls/seq_relationship/output_bias", model.nsp_head.bias, _same, _same),
    ]


def _model_slots(model: BertEncoder | BertPretrainer) -> list[_Slot]:
    if isinstance(model, BertPretrainer):
        return _encoder_slots(model.encoder) + _head_slots(model)
    return _encoder_slots(model)


# ---- model <-> canonical weights ------------------------------------------------------
def model_weights(model: BertEncoder | BertPretrainer) -> dict[str, np.ndarray]:
    """The model's weights under Google TF1 names and shapes."""
    return {s.name: s.to_tf1(np.asarray(s.variable.numpy())) for s in _model_slots(model)}


# How many of a mismatched checkpoint's problems `assign_weights` lists.
SHOWN_PROBLEMS = 8


def assign_weights(model: BertEncoder | BertPretrainer, weights: dict[str, np.ndarray],
                   source: str = "checkpoint") -> list[str]:
    """Sets every model variable from `weights` (Google TF1 names).

    Raises one `CheckpointError` listing every missing, mis-shaped or unexpected
    variable. Variables outside the model's scopes (`bert/`, and `cls/` for a
    pretrainer), e.g. a fine-tuned task head, are returned, not loaded.
    """
    slots = _model_slots(model)
    scopes = ("bert/", "cls/") if isinstance(model, BertPretrainer) else ("bert/",)
    expected = {s.name for s in slots}
    problems = []
    for slot in slots:
        if slot.name not in weights:
            problems.append(f"missing {slot.name} (expected shape "
                            f"{list(slot.to_tf1(np.zeros(slot.variable.shape)).shape)})")
            continue
        value = np.asarray(weights[slot.name])
        want = tuple(slot.to_tf1(np.zeros(slot.variable.shape)).shape)
        if value.shape != want:
            problems.append(f"shape mismatch {slot.name}: expected {list(want)}, "
                            f"found {list(value.shape)}")
    unexpected = sorted(n for n in weights if n.startswith(scopes) and n not in expected)
    problems += [f"unexpected {n} (shape {list(np.shape(weights[n]))})" for n in unexpected]
    if problems:
        # The first few say what is wrong (a model of other size lists dozens of variables).
        shown = problems[:SHOWN_PROBLEMS] + (
            [f"... and {len(problems) - SHOWN_PROBLEMS} more"]
            if len(problems) > SHOWN_PROBLEMS else [])
        raise CheckpointError(f"{source} does not match the model "
                              f"({len(problems)} problems):\n  " + "\n  ".join(shown))
    for slot in slots:
        slot.variable.assign(slot.to_keras(np.asarray(weights[slot.name])))
    return sorted(n for n in weights if not n.startswith(scopes))


# ---- TF1 checkpoints --------------------------------------------------------------------
def _tf1_prefix(path: str) -> str:
    """A checkpoint prefix from a prefix, an `.index` file or a directory."""
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            found = sorted(f[:-len(".index")] for f in os.listdir(path) if f.endswith(".index"))
            if len(found) != 1:
                raise CheckpointError(f"{path}: expected one TF1 checkpoint (*.index), "
                                      f"found {len(found)}: {found}")
            prefix = os.path.join(path, found[0])
        return prefix
    if path.endswith(".index"):
        return path[:-len(".index")]
    return path


@contextlib.contextmanager
def reading_checkpoint(path: str, kind: str = "checkpoint") -> Iterator[None]:
    """Turns TensorFlow's errors for a missing, truncated or damaged checkpoint into one
    `CheckpointError` naming it (`kind` says what it is: "TF1 checkpoint", ...).

    A truncated file fails in the reader (OpError) or while reading a tensor (IndexError
    "Read less bytes than requested"); flipped bytes fail TF's CRC32C checks of the index
    blocks and of every tensor (DataLossError), so damaged values are never returned.
    """
    try:
        yield
    except (tf.errors.OpError, IndexError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read {kind} {path}: {reason}") from None


def read_tf1_weights(prefix: str) -> dict[str, np.ndarray]:
    """All model variables of a TF1 checkpoint, optimizer slots and `global_step` skipped."""
    with reading_checkpoint(prefix, "TF1 checkpoint"):
        reader = tf.train.load_checkpoint(prefix)
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
                if not _OPTIMIZER_VARIABLE.search(name)}


def write_tf1_weights(weights: dict[str, np.ndarray], prefix: str) -> str:
    """Writes a V2 checkpoint whose variable names are exactly the dict's keys."""
    names = sorted(weights)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(weights[n]) for n in names])
    return prefix


# ---- HuggingFace checkpoints ------------------------------------------------------------
def _hf_to_tf1_name(name: str) -> str | None:
    """`encoder.layer.3.attention.self.query.weight` → `bert/encoder/layer_3/.../kernel`."""
    if name.endswith("position_ids") or name.startswith("cls.predictions.decoder."):
        return None  # a buffer, and the decoder tied to the word embeddings
    name = name[len("bert."):] if name.startswith("bert.") else name
    parts = name.split(".")
    if parts == ["cls", "predictions", "bias"]:
        return "cls/predictions/output_bias"
    if parts[:2] == ["cls", "seq_relationship"] and parts[2:] in (["weight"], ["bias"]):
        return "cls/seq_relationship/" + {"weight": "output_weights", "bias": "output_bias"}[parts[2]]
    # Any other name maps to some TF1 name, which assign_weights reports as unexpected.
    if parts[:2] == ["encoder", "layer"] and len(parts) > 2:
        parts = ["encoder", f"layer_{parts[2]}"] + parts[3:]
    last = parts[-1]
    if "LayerNorm" in parts:
        parts[-1] = {"weight": "gamma", "bias": "beta"}.get(last, last)
    elif len(parts) > 1 and parts[-2].endswith("_embeddings") and last == "weight":
        parts = parts[:-1]
    elif last == "weight":
        parts[-1] = "kernel"
    scope = [] if parts[0] == "cls" else ["bert"]
    return "/".join(scope + parts)


def _is_linear_weight(tf1_name: str) -> bool:
    # torch Linear stores [out, in]; Google kernels are [in, out]. The NSP matrix is
    # [2, hidden] in both.
    return tf1_name.endswith("/kernel")


def read_hf_weights(directory: str) -> dict[str, np.ndarray]:
    """Weights of an HF BERT directory (`model.safetensors`) under Google TF1 names."""
    from safetensors.numpy import load_file

    path = os.path.join(directory, SAFETENSORS_NAME)
    if not os.path.exists(path):
        pickles = [f for f in ("pytorch_model.bin", "tf_model.h5") if
                   os.path.exists(os.path.join(directory, f))]
        if pickles:
            raise CheckpointError(
                f"{directory} has {pickles[0]} but no {SAFETENSORS_NAME}. Pickled PyTorch files "
                "can run arbitrary code when loaded, so biobert-tf does not open them. Convert it "
                "once where you trust the file: `python -c \"from transformers import AutoModel; "
                f"AutoModel.from_pretrained('{directory}').save_pretrained('{directory}', "
                "safe_serialization=True)\"`")
        raise CheckpointError(f"{directory}: no {SAFETENSORS_NAME}")
    try:
        tensors = load_file(path)
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read {path}: {e}") from None
    weights = {}
    for name, value in tensors.items():
        tf1_name = _hf_to_tf1_name(name)
        if tf1_name is None:
            continue
        # Assigning to a float variable would cast silently: refuse rather than guess.
        if not np.issubdtype(value.dtype, np.floating):
            raise CheckpointError(f"{path}: tensor {name} has dtype {value.dtype}, "
                                  "expected floating point weights")
        if not np.isfinite(value).all():
            raise CheckpointError(f"{path}: tensor {name} has non-finite values (NaN or Inf)")
        weights[tf1_name] = value.T if _is_linear_weight(tf1_name) else value
    return weights


def write_hf_weights(weights: dict[str, np.ndarray], directory: str) -> str:
    """Writes `model.safetensors` with HF `BertForPreTraining` names (`bert.` prefix)."""
    from safetensors.numpy import save_file

    def hf_name(name: str) -> str:
        if name == "cls/predictions/output_bias":
            return "cls.predictions.bias"
        if name.startswith("cls/seq_relationship/"):
            return "cls.seq_relationship." + ("weight" if name.endswith("weights") else "bias")
        parts = name.split("/")
        parts = [p.replace("layer_", "layer.") if re.fullmatch(r"layer_\d+", p) else p
                 for p in parts]
        last = parts[-1]
        if last in ("gamma", "beta"):
            parts[-1] = {"gamma": "weight", "beta": "bias"}[last]
        elif last == "kernel":
            parts[-1] = "weight"
        elif last.endswith("_embeddings"):
            parts.append("weight")
        return ".".join(parts)

    tensors = {hf_name(n): np.ascontiguousarray(v.T if _is_linear_weight(n) else v)
               for n, v in weights.items()}
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, SAFETENSORS_NAME)
    save_file(tensors, path, metadata={"format": "pt"})
    return path


# ---- reading any format -----------------------------------------------------------------
def _is_hf_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, HF_CONFIG_NAME)) and \
        "model_type" in read_json_object(os.path.join(path, HF_CONFIG_NAME))


def _is_keras_preset(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "metadata.json")) and \
        os.path.exists(os.path.join(path, "model.weights.h5"))


def read_checkpoint(path: str, config_file: str | None = None) -> Checkpoint:
    """Reads a TF1 prefix (or its directory), an HF directory or a keras-hub preset directory.

    The config and vocab default to the files beside the weights
    (`bert_config.json` / `config.json`, `vocab.txt`).
    """
    if _is_keras_preset(path):
        encoder = load_keras_preset(path)
        weights, config = model_weights(encoder), encoder.bert_config()
        directory = path
    elif _is_hf_dir(path):
        weights = read_hf_weights(path)
        directory = path
        config = BertConfig.from_json_file(config_file or os.path.join(path, HF_CONFIG_NAME))
    else:
        prefix = _tf1_prefix(path)
        weights = read_tf1_weights(prefix)
        directory = os.path.dirname(prefix) or "."
        if config_file is None:
            config_file = os.path.join(directory, BERT_CONFIG_NAME)
            if not os.path.exists(config_file):
                raise CheckpointError(f"no {BERT_CONFIG_NAME} beside {prefix}; "
                                      "pass the config file explicitly (--bert_config_file)")
        config = BertConfig.from_json_file(config_file)
        path = prefix
    vocab_file = os.path.join(directory, VOCAB_NAME)
    return Checkpoint(config, weights, vocab_file if os.path.exists(vocab_file) else None, path)


def check_vocab(config: BertConfig, vocab_file: str) -> None:
    """Raises unless the vocab has exactly one line per word-embedding row."""
    size = len(load_vocab(vocab_file))
    if size != config.vocab_size:
        raise ConfigError(f"{vocab_file} has {size} tokens but the model's vocab_size "
                          f"(word-embedding rows) is {config.vocab_size}: wrong vocab for this model?")


def check_positions(config: BertConfig, max_seq_length: int) -> None:
    """Raises unless the model has a position embedding for each of `max_seq_length` pieces."""
    if max_seq_length > config.max_position_embeddings:
        raise ConfigError(f"--max_seq_length={max_seq_length} is more than the model's "
                          f"max_position_embeddings ({config.max_position_embeddings})")


def load_backbone(path: str, config_file: str | None = None) -> tuple[BertConfig, BertEncoder]:
    """(config, encoder with weights) from a TF1 checkpoint, HF directory or keras-hub preset."""
    checkpoint = read_checkpoint(path, config_file)
    if checkpoint.vocab_file:
        check_vocab(checkpoint.config, checkpoint.vocab_file)
    encoder = BertEncoder.from_bert_config(checkpoint.config)
    ignored = assign_weights(encoder, checkpoint.weights, checkpoint.source)
    if ignored:
        logging.info("%s: %d variables outside the encoder not loaded: %s", checkpoint.source,
                     len(ignored), ", ".join(ignored))
    return checkpoint.config, encoder


def load_pretraining_model(path: str, config_file: str | None = None,
                           require_heads: bool = False) -> tuple[BertConfig, BertPretrainer]:
    """(config, encoder + MLM/NSP heads). Heads absent from the checkpoint stay freshly
    initialised (logged) unless `require_heads`, which makes their absence an error."""
    checkpoint = read_checkpoint(path, config_file)
    model = BertPretrainer(BertEncoder.from_bert_config(checkpoint.config))
    restore_pretraining_weights(model, checkpoint, require_heads)
    return checkpoint.config, model


def restore_pretraining_weights(model: BertPretrainer, checkpoint: Checkpoint | str,
                                require_heads: bool = False) -> None:
    """Sets an existing pretraining model (e.g. built in a strategy scope) from a checkpoint;
    the heads too when the checkpoint has them."""
    if isinstance(checkpoint, str):
        checkpoint = read_checkpoint(checkpoint)
    if checkpoint.vocab_file:
        check_vocab(checkpoint.config, checkpoint.vocab_file)
    has_heads = any(n.startswith("cls/") for n in checkpoint.weights)
    if has_heads or require_heads:
        ignored = assign_weights(model, checkpoint.weights, checkpoint.source)
    else:
        logging.warning("%s has no cls/ (MLM/NSP head) variables; heads start from random init",
                        checkpoint.source)
        ignored = assign_weights(model.encoder, checkpoint.weights, checkpoint.source)
    if ignored:
        logging.info("%s: %d variables not loaded: %s", checkpoint.source, len(ignored),
                     ", ".join(ignored))


# ---- keras-hub presets ------------------------------------------------------------------
def save_keras_preset(encoder: BertEncoder, directory: str,
                      vocab_file: str | None = None, do_lower_case: bool = False) -> None:
    """Saves a keras-hub preset. With Google's tanh GELU it is a plain keras-hub
    `BertBackbone` (loadable without biobert_tf); otherwise our `BertEncoder`."""
    import keras_hub

    backbone = encoder
    if encoder.hidden_act == "gelu":
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=encoder.vocabulary_size, num_layers=encoder.num_layers,
            num_heads=encoder.num_heads, hidden_dim=encoder.hidden_dim,
            intermediate_dim=encoder.intermediate_dim, dropout=encoder.dropout,
            max_sequence_length=encoder.max_sequence_length, num_segments=encoder.num_segments)
        backbone.set_weights(encoder.get_weights())
    backbone.save_to_preset(directory)
    if vocab_file:
        keras_hub.models.BertTokenizer(vocabulary=vocab_file,
                                       lowercase=do_lower_case).save_to_preset(directory)


def load_keras_preset(directory: str) -> BertEncoder:
    """A keras-hub BERT preset (keras-hub's `BertBackbone` or ours) as a `BertEncoder`."""
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(directory)
    if isinstance(backbone, BertEncoder):
        return backbone
    if not isinstance(backbone, keras_hub.models.BertBackbone):
        raise CheckpointError(f"{directory}: a {type(backbone).__name__} preset, not BERT")
    encoder = BertEncoder(
        vocabulary_size=backbone.vocabulary_size, num_layers=backbone.num_layers,
        num_heads=backbone.num_heads, hidden_dim=backbone.hidden_dim,
        intermediate_dim=backbone.intermediate_dim, dropout=backbone.dropout,
        max_sequence_length=backbone.max_sequence_length, num_segments=backbone.num_segments)
    encoder.set_weights(backbone.get_weights())
    return encoder


# ---- exporting a whole model directory --------------------------------------------------
def export(model: BertEncoder | BertPretrainer, directory: str, to: str,
           vocab_file: str | None = None, do_lower_case: bool = False,
           checkpoint_name: str = "bert_model.ckpt") -> str:
    """Writes `model` as `tf1` (prefix + bert_config.json), `hf` (model.safetensors +
    config.json) or `keras` (keras-hub preset), with `vocab.txt` beside it."""
    encoder = model.encoder if isinstance(model, BertPretrainer) else model
    config = encoder.bert_config()
    os.makedirs(directory, exist_ok=True)
    if to == "tf1":
        written = write_tf1_weights(model_weights(model), os.path.join(directory, checkpoint_name))
        config.to_json_file(os.path.join(directory, BERT_CONFIG_NAME))
    elif to == "hf":
        written = write_hf_weights(model_weights(model), directory)
        config.to_hf_json_file(os.path.join(directory, HF_CONFIG_NAME))
    elif to == "keras":
        save_keras_preset(encoder, directory, vocab_file, do_lower_case)
        written = directory
    else:
        raise ValueError(f"unknown export format {to!r} (expected tf1, hf or keras)")
    if vocab_file:
        shutil.copyfile(vocab_file, os.path.join(directory, VOCAB_NAME))
    return written
