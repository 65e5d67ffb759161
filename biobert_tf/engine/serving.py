"""The exported SavedModels (NER tagger, QA answerer, relation classifier): writing them
(`save`), reading them back (`load`, `saved_model_sha256`) and the graph helpers they share."""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Callable, Sequence

import tensorflow as tf

from biobert_tf.engine import batching, entry

SAVED_MODEL_FILE = tf.saved_model.SAVED_MODEL_FILENAME_PB  # "saved_model.pb"


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
    try:
        return tf.saved_model.load(export_dir)
    except (IndexError, ValueError, tf.errors.OpError) as error:
        # A damaged or truncated export (TensorFlow's own message is a multi-line traceback;
        # IndexError is its "Read less bytes than requested" for cut variables).
        detail = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise ValueError(f"{flag}={export_dir}: cannot read the SavedModel, damaged or cut "
                         f"short? ({detail})") from None


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
                  seq_length: int, outputs: dict[str, tf.TensorSpec], jit_compile: bool = False,
                  sequence_keys: Sequence[str] | None = None) -> dict[str, tf.Tensor]:
    """`fn` over `features` ([rows, ...] tensors) at most `chunk_size` rows at a time, inside
    a tf.function, so that a long document's many windows never go through the model in one
    batch. In each chunk, `sequence_keys` ([rows, seq_length]; default: every feature) are cut
    to the longest row of `padding_mask`. `outputs` gives the dtype and shape of one row of
    each of `fn`'s results: `[None]` for one value per position (`fn` returns [chunk, width];
    padded back to `seq_length`), a fixed shape otherwise. Returns them for all rows.

    With `jit_compile`, `fn` is XLA-compiled (the encoder: 1.3x faster on CPUs, see
    docs/benchmarks.md), and XLA compiles once per shape. So a chunk is `chunk_size` rows or
    else the largest power of two the rows left hold: 13 rows run as 8 + 4 + 1, so no row is
    padding (rows padded up to a multiple of 8 made QA's ~12 windows per call cost 16), and
    its width is rounded up to a multiple of `batching.LENGTH_BUCKET` positions: a few dozen
    shapes at most, each compiled on its first call."""
    sequence_keys = list(features) if sequence_keys is None else list(sequence_keys)
    total = tf.shape(features["padding_mask"])[0]
    keys = list(outputs)
    run = _compiled(fn) if jit_compile else fn

    def chunk(i, start, arrays):
        part = {k: v[start:start + _chunk_rows(total - start, chunk_size, jit_compile)]
                for k, v in features.items()}
        results = run(_cut_to_longest(part, sequence_keys, seq_length, jit_compile))
        return i + 1, start + tf.shape(part["padding_mask"])[0], tuple(
            array.write(i, _pad_to_length(results[k], outputs[k], seq_length))
            for k, array in zip(keys, arrays))

    # An explicit loop: the serving functions are traced without autograph, whose conversion
    # of every function they call took seconds.
    arrays = tuple(tf.TensorArray(outputs[k].dtype, size=0, dynamic_size=True, infer_shape=False,
                                  element_shape=_rows_of(outputs[k], seq_length))
                   for k in keys)
    _, _, arrays = tf.while_loop(lambda i, start, _: start < total, chunk,
                                 (tf.constant(0), tf.constant(0), arrays))
    return {k: array.concat() for k, array in zip(keys, arrays)}


def _chunk_rows(rows_left: tf.Tensor, chunk_size: int, jit_compile: bool) -> tf.Tensor:
    """How many rows the next chunk takes (see `map_in_chunks`)."""
    if not jit_compile:
        return tf.minimum(rows_left, chunk_size)
    sizes = [chunk_size] + [2 ** k for k in reversed(range(chunk_size.bit_length()))
                            if 2 ** k < chunk_size]
    # The first (largest) size that fits; the last is 1, which always does.
    return tf.gather(sizes, tf.argmax(tf.cast(tf.constant(sizes) <= rows_left, tf.int32)))


def _rows_of(row_spec: tf.TensorSpec, seq_length: int) -> tf.TensorShape:
    """The shape of a chunk of rows of an output whose one row is `row_spec`."""
    if row_spec.shape.as_list() == [None]:
        return tf.TensorShape([None, seq_length])
    return tf.TensorShape([None]).concatenate(row_spec.shape)


def _pad_to_length(values: tf.Tensor, row_spec: tf.TensorSpec, seq_length: int) -> tf.Tensor:
    """A chunk's output, a per-position one padded from its chunk's width to `seq_length`."""
    if row_spec.shape.as_list() == [None]:
        values = tf.pad(values, [[0, 0], [0, seq_length - tf.shape(values)[1]]])
    return tf.ensure_shape(values, _rows_of(row_spec, seq_length))


def _compiled(fn: Callable) -> Callable:
    """`fn` XLA-compiled, for use inside a serving function's trace: made there, not kept on
    the module, so that the SavedModel holds the one copy that trace made."""
    return tf.function(fn, jit_compile=True, autograph=False)


def _cut_to_longest(features: dict[str, tf.Tensor], sequence_keys: list[str], seq_length: int,
                    jit_compile: bool = False) -> dict[str, tf.Tensor]:
    """`features` ([rows, ...] tensors) with those of `sequence_keys` ([rows, seq_length]) cut
    to the longest row of `padding_mask`, the padding no row needs. For an XLA-compiled model,
    which compiles once per shape, the width is rounded up to a multiple of
    `batching.LENGTH_BUCKET`."""
    width = tf.reduce_max(tf.reduce_sum(features["padding_mask"], 1))
    if jit_compile:
        width = tf.minimum(_round_up(width, batching.LENGTH_BUCKET), seq_length)
    return {k: v[:, :width] if k in sequence_keys else v for k, v in features.items()}


def _round_up(value: tf.Tensor, multiple: int) -> tf.Tensor:
    return (value + multiple - 1) // multiple * multiple
