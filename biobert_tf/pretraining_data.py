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
