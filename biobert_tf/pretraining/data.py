"""Google BERT's masked-LM / next-sentence TFRecord schema and its reader.

The writer is `tfrecords_tools`; the schema lives here so the library can read
pretraining data without depending on the tools. Names and dtypes are exactly
those of google-research/bert `create_pretraining_data.py`, so files written by
either side are read by the other.
"""

from __future__ import annotations

import tensorflow as tf

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


def make_dataset(input_files: str | list[str], batch_size: int, max_seq_length: int,
                 max_predictions_per_seq: int, is_training: bool, seed: int = 0,
                 input_context: tf.distribute.InputContext | None = None,
                 skip_batches: int = 0) -> tf.data.Dataset:
    """Batches of parsed pretraining examples, as Google's `input_fn_builder`.

    Training: files shuffled and read interleaved, examples shuffled, repeated forever,
    `drop_remainder` (static shapes for TPUs). Evaluation: files in order, once.
    Deterministic for a seed: `skip_batches` (the steps already trained) resumes exactly
    where a killed job stopped; records are skipped before parsing, so that is cheap.
    `batch_size` is per input pipeline; with `input_context` (from
    `distribute_datasets_from_function`) each pipeline reads its own share of the files.
    """
    patterns = input_files.split(",") if isinstance(input_files, str) else input_files
    files = sorted(f for pattern in patterns if pattern.strip()
                   for f in tf.io.gfile.glob(pattern.strip()))
    if not files:
        raise ValueError(f"no pretraining data files match {input_files!r}")
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
    dataset = dataset.batch(batch_size, drop_remainder=is_training).skip(skip_batches)
    dataset = dataset.map(lambda records: parse_examples(records, max_seq_length,
                                                         max_predictions_per_seq),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
