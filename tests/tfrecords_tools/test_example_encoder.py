import time

import numpy as np
import pytest
import tensorflow as tf

from tfrecords_tools.example_encoder import encode_examples

SEQ_LEN = 128
MAX_PREDICTIONS = 20
# Varint size boundaries, the int32/int64 limits and negatives (10-byte varints).
EDGE_INTS = [0, 127, 128, 16383, 16384, 2**31 - 1, 2**40, 2**63 - 1, -1, -2**63]
EDGE_FLOATS = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, 3.4028235e38, -1.5]


def bert_columns(rng: np.random.Generator, num_rows: int) -> dict[str, np.ndarray]:
    """A batch in Google BERT's pretraining schema."""
    predictions = (num_rows, MAX_PREDICTIONS)
    return {
        "input_ids": rng.integers(0, 30522, (num_rows, SEQ_LEN), dtype=np.int64),
        "input_mask": rng.integers(0, 2, (num_rows, SEQ_LEN), dtype=np.int64),
        "segment_ids": rng.integers(0, 2, (num_rows, SEQ_LEN), dtype=np.int64),
        "masked_lm_positions": rng.integers(0, SEQ_LEN, predictions, dtype=np.int64),
        "masked_lm_ids": rng.integers(0, 30522, predictions, dtype=np.int64),
        "masked_lm_weights": rng.integers(0, 2, predictions).astype(np.float32),
        "next_sentence_labels": rng.integers(0, 2, (num_rows, 1), dtype=np.int64),
    }


def edge_columns(num_rows: int = 8) -> dict[str, np.ndarray]:
    """BERT-shaped columns with edge values mixed in, plus columns that stress other paths."""
    rng = np.random.default_rng(0)
    columns = bert_columns(rng, num_rows)
    edge_ints = np.array(EDGE_INTS, dtype=np.int64)
    columns["input_ids"][:, :len(EDGE_INTS)] = np.roll(edge_ints, 1)  # different rows, same mix
    columns["input_ids"][0, -len(EDGE_INTS):] = edge_ints
    columns["masked_lm_weights"][:, :len(EDGE_FLOATS)] = np.array(EDGE_FLOATS, dtype=np.float32)
    random_int64 = rng.integers(-2**63, 2**63 - 1, (num_rows, 50), dtype=np.int64, endpoint=True)
    nan_with_payload = np.array([0x7FC00001, 0xFFC00000], dtype=np.uint32).view(np.float32)
    columns.update({
        "random_int64": random_int64,
        "float64": np.tile(np.array(EDGE_FLOATS + [0.1], dtype=np.float64), (num_rows, 1)),
        "nan_payloads": np.tile(nan_with_payload, (num_rows, 1)),
        "int32": np.tile(np.array([-2**31, -1, 0, 2**31 - 1], dtype=np.int32), (num_rows, 1)),
        "uint8": np.full((num_rows, 3), 255, dtype=np.uint8),
        "uint64": np.full((num_rows, 2), 2**63 - 1, dtype=np.uint64),
        "empty_ints": np.zeros((num_rows, 0), dtype=np.int64),
        "empty_floats": np.zeros((num_rows, 0), dtype=np.float32),
        # Length headers of 3 bytes (values) and a key longer than 127 bytes (2-byte key length).
        "long_values": np.arange(num_rows * 5000, dtype=np.int64).reshape(num_rows, 5000),
        "k" * 200: np.ones((num_rows, 1), dtype=np.int64),
    })
    return columns


def usual_example(columns: dict[str, np.ndarray], row: int) -> tf.train.Example:
    """The Example built the usual way, through the protobuf API."""
    feature = {}
    for name, values in columns.items():
        if np.issubdtype(values.dtype, np.integer):
            ints = values[row].tolist()
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=ints))
        else:
            floats = values[row].astype(np.float32).tolist()
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=floats))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def parse_specs(columns: dict[str, np.ndarray]) -> dict[str, tf.io.FixedLenFeature]:
    return {
        name: tf.io.FixedLenFeature(
            [values.shape[1]], tf.int64 if np.issubdtype(values.dtype, np.integer) else tf.float32)
        for name, values in columns.items()
    }


def assert_parsed_equal(parsed: dict[str, tf.Tensor], columns: dict[str, np.ndarray]):
    assert set(parsed) == set(columns)
    for name, values in columns.items():
        got = parsed[name].numpy()
        if np.issubdtype(values.dtype, np.integer):
            np.testing.assert_array_equal(got, values.astype(np.int64), err_msg=name)
        else:  # compare bit patterns, so NaN payloads and -0.0 count
            want = values.astype(np.float32)
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32), err_msg=name)


def test_messages_equal_the_usual_ones():
    columns = edge_columns()
    records = encode_examples(columns)
    assert len(records) == 8
    for row, record in enumerate(records):
        assert tf.train.Example.FromString(record) == usual_example(columns, row)


def test_bytes_equal_deterministic_serialization_with_sorted_features():
    # Deterministic serialization sorts map keys; in that order ours is byte for byte the same.
    columns = dict(sorted(edge_columns().items()))
    for row, record in enumerate(encode_examples(columns)):
        assert record == usual_example(columns, row).SerializeToString(deterministic=True)


def test_each_edge_value_alone():
    for value in EDGE_INTS:
        columns = {"x": np.array([[value]], dtype=np.int64)}
        assert tf.train.Example.FromString(encode_examples(columns)[0]) == usual_example(columns, 0)
    for value in EDGE_FLOATS:
        columns = {"x": np.array([[value]], dtype=np.float32)}
        assert tf.train.Example.FromString(encode_examples(columns)[0]) == usual_example(columns, 0)


def test_parse_example_returns_the_arrays():
    columns = edge_columns()
    parsed = tf.io.parse_example(encode_examples(columns), parse_specs(columns))
    assert_parsed_equal(parsed, columns)


def test_tfrecord_file_round_trip(tmp_path):
    columns = bert_columns(np.random.default_rng(1), 300)
    columns["input_ids"][:, :len(EDGE_INTS)] = EDGE_INTS
    records = encode_examples(columns)
    path = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)

    read = [record.numpy() for record in tf.data.TFRecordDataset(path)]
    assert read == records
    parsed = tf.io.parse_example(read, parse_specs(columns))
    assert_parsed_equal(parsed, columns)


def test_feature_order_follows_columns():
    columns = {"b": np.ones((1, 1), np.int64), "a": np.ones((1, 1), np.float32)}
    record = encode_examples(columns)[0]
    assert record.index(b"\x0a\x01b") < record.index(b"\x0a\x01a")


def test_no_rows():
    assert encode_examples({"input_ids": np.zeros((0, SEQ_LEN), np.int64)}) == []


@pytest.mark.parametrize("columns, message", [
    ({}, "columns is empty"),
    ({"ids": np.zeros(3, np.int64)}, "'ids': expected a 2-D"),
    ({"ids": np.zeros((2, 2, 2), np.int64)}, "'ids': expected a 2-D"),
    ({"ids": [[1, 2]]}, "'ids': expected a 2-D NumPy array"),
    ({"ids": np.zeros((2, 3), np.int64), "mask": np.zeros((3, 3), np.int64)},
     "'mask' has 3 rows but 'ids' has 2"),
    ({"flags": np.zeros((2, 3), bool)}, "'flags': unsupported dtype bool"),
    ({"half": np.zeros((2, 3), np.float16)}, "'half': unsupported dtype float16"),
    ({"text": np.array([["a"]])}, "'text': unsupported dtype"),
    ({"big": np.array([[2**63]], np.uint64)}, "'big': uint64 values above 2\\*\\*63-1"),
])
def test_invalid_inputs(columns, message):
    with pytest.raises(ValueError, match=message):
        encode_examples(columns)


def test_speed_against_the_usual_way():
    """Prints µs per example for a 10,000-row BERT batch (see it with -s); asserts no timing."""
    columns = bert_columns(np.random.default_rng(2), 10_000)

    ours = encode_examples(columns)  # the first call also pays for NumPy's first allocations
    start = time.perf_counter()
    for _ in range(3):
        encode_examples(columns)
    ours_us = (time.perf_counter() - start) / 3 / 10_000 * 1e6

    start = time.perf_counter()
    usual = [usual_example(columns, row).SerializeToString() for row in range(10_000)]
    usual_us = (time.perf_counter() - start) / 10_000 * 1e6

    print(f"\nencode_examples: {ours_us:.2f} µs/example; "
          f"tf.train.Example(...).SerializeToString(): {usual_us:.2f} µs/example "
          f"({usual_us / ours_us:.0f}x)")
    for row in range(0, 10_000, 997):
        assert tf.train.Example.FromString(ours[row]) == tf.train.Example.FromString(usual[row])
