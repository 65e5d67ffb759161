"""Google BERT's masked-LM / next-sentence TFRecord schema and its reader.

The writer is `tfrecords_tools`; the schema lives here so the library can read
pretraining data without depending on the tools. Names and dtypes are exactly
those of google-research/bert `create_pretraining_data.py`, so files written by
either side are read by the other.
"""

from __future__ import annotations

import concurrent.futures
import os
import re

import tensorflow as tf
from google.protobuf.message import DecodeError

from biobert_tf import atomic_files

# name → (dtype in the file, length: "seq" = max_seq_length, "pred" = max_predictions_per_seq)
FEATURES = {
    "input_ids": (tf.int64, "seq"),
    "input_mask": (tf.int64, "seq"),
    "segment_ids": (tf.int64, "seq"),
    "masked_lm_positions": (tf.int64, "pred"),
    "masked_lm_ids": (tf.int64, "pred"),
    "masked_lm_weights": (tf.float32, "pred"),
    "next_sentence_labels": (tf.int64, 1),
}

# `tfrecords_tools.create_pretraining_data` writes each shard as NAME.partial, renamed to NAME
# once complete, and records what the shards were made from in FIRST_SHARD.run.json: a glob
# over its output folder skips the record and refuses an unfinished shard.
RUN_RECORD_SUFFIX = ".run.json"


def feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> dict[str, tf.io.FixedLenFeature]:
    """`tf.io.parse_example` spec of one pretraining instance."""
    sizes = {"seq": max_seq_length, "pred": max_predictions_per_seq}
    return {name: tf.io.FixedLenFeature([sizes.get(length, length)], dtype)
            for name, (dtype, length) in FEATURES.items()}


def parse_examples(serialized: tf.Tensor, max_seq_length: int,
                   max_predictions_per_seq: int) -> dict[str, tf.Tensor]:
    """Parses a batch (or one) of serialized examples; int64 features become int32 (TPUs
    have no int64 support), `masked_lm_weights` stays float32."""
    parsed = tf.io.parse_example(serialized, feature_spec(max_seq_length, max_predictions_per_seq))
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in parsed.items()}


def model_inputs(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Renames parsed features to `BertPretrainer`'s input names."""
    return {"token_ids": features["input_ids"], "segment_ids": features["segment_ids"],
            "padding_mask": features["input_mask"],
            "masked_lm_positions": features["masked_lm_positions"]}


def data_files(input_files: str | list[str]) -> list[str]:
    """The files that the globs (a list, or comma-separated) match, sorted; an error when
    none does, or when one is a shard `create_pretraining_data` has not finished."""
    patterns = input_files.split(",") if isinstance(input_files, str) else input_files
    files = sorted(f for pattern in patterns if pattern.strip()
                   for f in tf.io.gfile.glob(pattern.strip()) if not f.endswith(RUN_RECORD_SUFFIX))
    if not files:
        raise ValueError(f"no pretraining data files match {input_files!r}")
    for path in files:
        if path.endswith(atomic_files.PARTIAL_SUFFIX):
            raise ValueError(f"{path}: an unfinished shard of create_pretraining_data (rerun the "
                             "same command to finish it)")
    return files


def check_data_files(input_files: str | list[str], max_seq_length: int,
                     max_predictions_per_seq: int, vocab_size: int | None = None) -> list[str]:
    """`data_files`, each read through once and its first records parsed, so that a bad file
    fails here, before any training: a file that is not a TFRecord file, or is truncated or
    corrupt anywhere (the pipeline would fail when it gets there, maybe hours later), or whose
    examples were written for other lengths (it would fail at the first batch; all files
    empty, it would wait forever), or whose records hold a token id beyond `vocab_size`
    (written with a larger vocab than the model's; it would fail inside the embedding).

    Reading checks every record's framing and CRCs; only each file's first records are parsed;
    files are read in parallel. It costs about 4 s per GB and core (records of 1.5 kB): for
    BioBERT's PubMed data at dupe_factor 10 (~470M examples, ~600 GB) about 45 core-minutes,
    once per run — small beside the days of training it protects.
    """
    files = data_files(input_files)
    pool = concurrent.futures.ThreadPoolExecutor(os.cpu_count())  # TF reads without the GIL
    try:
        nonempty = list(pool.map(_read_through, files))  # raises the first file's error, in order
    finally:
        pool.shutdown(cancel_futures=True)  # after an error, the files not started stay unread
    if not any(nonempty):
        raise ValueError(f"no records in the pretraining data files {input_files!r}")
    for has_records, path in zip(nonempty, files):
        if has_records:
            _check_first_records(path, max_seq_length, max_predictions_per_seq, vocab_size)
    return files


# Records at the start of each file that are parsed (a sample: parsing every record would cost
# more than reading them).
FIRST_RECORDS = 1024


def _check_first_records(path: str, max_seq_length: int, max_predictions_per_seq: int,
                         vocab_size: int | None) -> None:
    """Raises unless the file's first records are pretraining examples of these lengths whose
    token ids are below `vocab_size` (if given)."""
    records = next(iter(tf.data.TFRecordDataset(path).take(FIRST_RECORDS).batch(FIRST_RECORDS)))
    try:
        ids = parse_examples(records, max_seq_length, max_predictions_per_seq)["input_ids"]
    except tf.errors.InvalidArgumentError:
        bad = next(i for i in range(len(records))
                   if not _parses(records[i], max_seq_length, max_predictions_per_seq))
        which = "its first record" if bad == 0 else f"its record {bad + 1}"
        raise ValueError(
            f"{path}: {which} is not a pretraining example of --max_seq_length={max_seq_length} "
            f"and --max_predictions_per_seq={max_predictions_per_seq} "
            f"({_lengths(records[bad].numpy())})") from None
    largest = int(tf.reduce_max(ids))
    if vocab_size is not None and largest >= vocab_size:
        raise ValueError(f"{path}: token id {largest} in its first records is beyond the "
                         f"model's vocab_size {vocab_size}: written with another vocab?")


def _parses(record: tf.Tensor, max_seq_length: int, max_predictions_per_seq: int) -> bool:
    try:
        parse_examples(record, max_seq_length, max_predictions_per_seq)
    except tf.errors.InvalidArgumentError:
        return False
    return True


# Bytes that frame each record of a TFRecord file: its length (8) and two CRCs (4 + 4).
_FRAME_BYTES = 16


@tf.function
def _framed_bytes(path: tf.Tensor) -> tf.Tensor:
    """The bytes of a TFRecord file's whole records (their data and framing)."""
    # Batched: counting record by record would cost more than reading them.
    return tf.data.TFRecordDataset(path, buffer_size=1 << 22).batch(4096).reduce(
        tf.constant(0, tf.int64), lambda total, batch: total + tf.reduce_sum(
            tf.cast(tf.strings.length(batch), tf.int64)) + _FRAME_BYTES * tf.size(batch, tf.int64))


def _read_through(path: str) -> bool:
    """Whether a TFRecord file holds a record, after reading it through once to check every
    record's framing and CRCs."""
    try:
        first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
    except tf.errors.DataLossError:
        raise ValueError(f"{path}: not a TFRecord file") from None
    try:
        whole = int(_framed_bytes(tf.constant(path)))
    except tf.errors.DataLossError as e:  # the reason is "corrupted/truncated record at <offset>"
        where = re.search(r"\w+ record at \d+", e.message)
        raise ValueError(f"{path}: truncated or corrupt TFRecord file"
                         + (f" ({where[0]})" if where else "")) from None
    # TensorFlow reads a file cut inside a record's length as if it ended before that record.
    if whole != tf.io.gfile.stat(path).length:
        raise ValueError(f"{path}: truncated or corrupt TFRecord file (truncated record at "
                         f"{whole})")
    return first is not None


def _lengths(record: bytes) -> str:
    """The lengths a serialized example was written with, for an error message."""
    try:
        features = tf.train.Example.FromString(record).features.feature
    except DecodeError:
        return "it is not a tf.train.Example"
    return "it has " + ", ".join(
        f"{len(features[name].int64_list.value)} {name}" if name in features else f"no {name}"
        for name in ("input_ids", "masked_lm_positions"))


def make_dataset(input_files: str | list[str], batch_size: int, max_seq_length: int,
                 max_predictions_per_seq: int, is_training: bool, seed: int = 0,
                 input_context: tf.distribute.InputContext | None = None,
                 skip_steps: int = 0) -> tf.data.Dataset:
    """Batches of parsed pretraining examples, as Google's `input_fn_builder`.

    Training: files shuffled and read interleaved, examples shuffled, repeated forever,
    `drop_remainder` (static shapes for TPUs). Evaluation: files in order, once.
    Deterministic for a seed: `skip_steps` (the steps already trained) resumes exactly
    where a killed job stopped; records are skipped before parsing, so that is cheap.
    `batch_size` is per replica; with `input_context` (from
    `distribute_datasets_from_function`) each pipeline reads its own share of the files.
    """
    files = data_files(input_files)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if input_context and input_context.num_input_pipelines > 1:
        if len(files) < input_context.num_input_pipelines:
            raise ValueError(f"{len(files)} data files cannot be split across "
                             f"{input_context.num_input_pipelines} input pipelines; "
                             "write more output files")
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if is_training:
        dataset = dataset.repeat().shuffle(len(files), seed=seed)
        dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
                                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        dataset = dataset.shuffle(100, seed=seed)
    else:
        dataset = tf.data.TFRecordDataset(dataset)
    # A step takes one batch for each replica that this pipeline feeds.
    replicas = (input_context.num_replicas_in_sync // input_context.num_input_pipelines
                if input_context else 1)
    dataset = dataset.batch(batch_size, drop_remainder=is_training).skip(skip_steps * replicas)
    dataset = dataset.map(lambda records: parse_examples(records, max_seq_length,
                                                         max_predictions_per_seq),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
