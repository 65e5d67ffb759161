"""The exported SavedModels (NER tagger, QA answerer, relation classifier): writing them
(`save`), reading them back (`load`, `saved_model_sha256`) and the graph helpers they share."""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Callable

import tensorflow as tf

from biobert_tf.engine import batching, entry

SAVED_MODEL_FILE = tf.saved_model.SAVED_MODEL_FILENAME_PB  # "saved_model.pb"
# Rows of an XLA-compiled serving chunk are padded up to a multiple of this.
ROW_BUCKET = 8


def save(module: tf.Module, export_dir: str) -> None:
    """Writes `module` as a SavedModel whose `serving_default` signature is `module.__call__`.

    The INFO lines TensorFlow logs while saving are dropped: one of them lists, in about
    2 KB, every captured input of the signature's graph whose name it renames ("Function
    `__call__` contains input name(s) ... with unsupported characters"); the others are
    timings and paths. They only say that the save works; its warnings still show.
    """
    # TensorFlow's saving code logs through both loggers.
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    for logger in loggers:
        logger.addFilter(_warnings_and_above)
    try:
        tf.saved_model.save(module, export_dir, signatures={"serving_default": module.__call__})
    finally:
        for logger in loggers:
            logger.removeFilter(_warnings_and_above)


def load(export_dir: str, flag: str) -> tf.Module:
    """The SavedModel in `export_dir`, restored (its `__call__` takes raw texts). `flag` names
    where the folder came from ("--ner_model") in the one-line error for a folder that holds
    no SavedModel."""
    check_saved_model(export_dir, flag)
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops the graph uses)
    entry.absorb_onednn_notice()  # the model's ragged concats would print it
    return tf.saved_model.load(export_dir)


def check_saved_model(export_dir: str, flag: str) -> None:
    """A one-line ValueError unless `export_dir` holds a SavedModel (see `load`)."""
    if not tf.io.gfile.exists(os.path.join(export_dir, SAVED_MODEL_FILE)):
        raise ValueError(f"{flag}={export_dir}: no {SAVED_MODEL_FILE} there, so not an exported "
                         "model (run_ner.py / run_re.py --export_dir=DIR writes one)")


def saved_model_sha256(export_dir: str) -> str:
    """sha256 of the SavedModel's variables index, which holds a checksum of every tensor, so
    it changes with the weights (the weights themselves may be gigabytes)."""
    with tf.io.gfile.GFile(os.path.join(export_dir, "variables", "variables.index"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _warnings_and_above(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def map_in_chunks(fn: Callable[[dict], dict], features: dict[str, tf.Tensor], chunk_size: int,
                  seq_length: int, output_dtypes: dict[str, tf.DType],
                  jit_compile: bool = False) -> dict[str, tf.Tensor]:
    """`fn` over `features` ([rows, seq_length] tensors) `chunk_size` rows at a time, inside a
    tf.function, so that a long document's many windows never go through the model in one
    batch. Each chunk is cut to its longest row (`padding_mask`); `fn` returns
    [chunk, width] tensors (`output_dtypes`), padded back to `seq_length` and joined.

    With `jit_compile`, `fn` is XLA-compiled (the encoder: 1.3x faster on CPUs, see
    docs/benchmarks.md), and XLA compiles once per shape, so each chunk is padded up to a
    multiple of `ROW_BUCKET` rows and `batching.LENGTH_BUCKET` positions: a few dozen shapes
    at most, each compiled on its first call."""
    num_chunks = (tf.shape(features["padding_mask"])[0] + chunk_size - 1) // chunk_size
    shape = tf.TensorShape([None, seq_length])
    keys = list(output_dtypes)
    run = compiled(fn) if jit_compile else fn

    def chunk(i, arrays):
        part = {k: v[i * chunk_size:(i + 1) * chunk_size] for k, v in features.items()}
        rows = tf.shape(part["padding_mask"])[0]
        outputs = run(cut_to_longest(part, list(part), seq_length, jit_compile))
        return i + 1, tuple(
            array.write(i, tf.ensure_shape(
                tf.pad(outputs[k][:rows], [[0, 0], [0, seq_length - tf.shape(outputs[k])[1]]]),
                shape))
            for k, array in zip(keys, arrays))

    # An explicit loop: the serving functions are traced without autograph, whose conversion
    # of every function they call took seconds.
    arrays = tuple(tf.TensorArray(output_dtypes[k], size=0, dynamic_size=True,
                                  infer_shape=False, element_shape=shape) for k in keys)
    _, arrays = tf.while_loop(lambda i, _: i < num_chunks, chunk, (tf.constant(0), arrays))
    return {k: array.concat() for k, array in zip(keys, arrays)}


def compiled(fn: Callable) -> Callable:
    """`fn` XLA-compiled, for use inside a serving function's trace: made there, not kept on
    the module, so that the SavedModel holds the one copy that trace made."""
    return tf.function(fn, jit_compile=True, autograph=False)


def cut_to_longest(features: dict[str, tf.Tensor], sequence_keys: list[str], seq_length: int,
                   jit_compile: bool = False) -> dict[str, tf.Tensor]:
    """`features` ([rows, ...] tensors) with those of `sequence_keys` ([rows, seq_length]) cut
    to the longest row of `padding_mask`, the padding no row needs. For an XLA-compiled model,
    which compiles once per shape, the width is rounded up to a multiple of
    `batching.LENGTH_BUCKET` and every tensor padded to a multiple of `ROW_BUCKET` rows."""
    width = tf.reduce_max(tf.reduce_sum(features["padding_mask"], 1))
    if jit_compile:
        width = tf.minimum(_round_up(width, batching.LENGTH_BUCKET), seq_length)
        rows = tf.shape(features["padding_mask"])[0]
        extra_rows = _round_up(rows, ROW_BUCKET) - rows
        features = {k: tf.pad(v, [[0, extra_rows]] + [[0, 0]] * (v.shape.rank - 1))
                    for k, v in features.items()}
    return {k: v[:, :width] if k in sequence_keys else v for k, v in features.items()}


def _round_up(value: tf.Tensor, multiple: int) -> tf.Tensor:
    return (value + multiple - 1) // multiple * multiple
