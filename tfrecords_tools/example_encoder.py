"""Serializes whole batches of `tf.train.Example` records straight from NumPy arrays.

Why this exists: the pretraining-data tool writes millions of Examples in Google BERT's schema.
Building each one as a protobuf message (`tf.train.Example(...).SerializeToString()`) costs
tens of microseconds of per-feature Python work, which dominates the run. Here the protobuf
wire format is written directly, with NumPy doing the work for all rows at once; per row
there is only one slice of one flat byte buffer.

    records = encode_examples({"input_ids": ids, "masked_lm_weights": weights})  # [N, k] each

Integer arrays become `int64_list` features and float32/float64 arrays become `float_list`
features (stored as float32). Each bytes string parses with `tf.train.Example.FromString` and
`tf.io.parse_example` exactly as the message built the usual way.

Wire format written, outermost first (every level is a length-delimited field, tag
`(field << 3) | 2`, followed by the varint byte length of its body):

    Example      { features = 1: Features }
    Features     { feature = 1: repeated map entry { key = 1: string, value = 2: Feature } }
    Feature      { float_list = 2: FloatList | int64_list = 3: Int64List }
    Int64List    { value = 1: packed varints }      (negative values: 10-byte two's complement)
    FloatList    { value = 1: packed little-endian float32 }
"""

from typing import NamedTuple

import numpy as np

_EXAMPLE_FEATURES_TAG = b"\x0a"  # Example.features
_FEATURES_ENTRY_TAG = b"\x0a"  # Features.feature (one map entry)
_ENTRY_KEY_TAG = b"\x0a"  # map entry key
_ENTRY_VALUE_TAG = b"\x12"  # map entry value
_FLOAT_LIST_TAG = b"\x12"  # Feature.float_list
_INT64_LIST_TAG = b"\x1a"  # Feature.int64_list
_PACKED_VALUES_TAG = b"\x0a"  # Int64List.value / FloatList.value

# A varint holds 7 bits per byte: a value needs one more byte at each of these thresholds.
_VARINT_THRESHOLDS = np.array([1 << (7 * j) for j in range(1, 10)], dtype=np.uint64)


class _Rows(NamedTuple):
    """One byte string per row, stored as one flat buffer of all rows' bytes in row order."""

    data: np.ndarray  # uint8 [sum(lengths)]
    lengths: np.ndarray  # int64 [N]


def encode_examples(columns: dict[str, np.ndarray]) -> list[bytes]:
    """One serialized `tf.train.Example` per row of the [N, k] arrays in `columns`, in row order.

    Each feature's k may differ; all share N. Features appear in the order of `columns`.
    """
    num_rows = _validate(columns)

    # Lengths are computed inside out (the payload sizes the list, which sizes the feature, ...),
    # because every length-delimited field is preceded by its body's length.
    feature_parts: list[list[_Rows]] = []
    features_size = np.zeros(num_rows, dtype=np.int64)
    for name, values in columns.items():
        if np.issubdtype(values.dtype, np.integer):
            payload = _varints(values.astype(np.int64, copy=False))
            list_tag = _INT64_LIST_TAG
        else:
            float_bytes = np.ascontiguousarray(values, dtype="<f4").view(np.uint8)
            payload = _Rows(float_bytes.ravel(), np.full(num_rows, float_bytes.shape[1], np.int64))
            list_tag = _FLOAT_LIST_TAG

        # An empty repeated field is omitted: k = 0 gives an empty list message, as protobuf does.
        has_values = values.shape[1] > 0
        list_size = _field_size(payload.lengths) if has_values else np.zeros(num_rows, np.int64)
        feature_size = _field_size(list_size)
        key = name.encode("utf-8")
        key_field = _ENTRY_KEY_TAG + _varint(len(key)) + key
        entry_size = len(key_field) + _field_size(feature_size)
        features_size += _field_size(entry_size)

        parts = [
            _constant(_FEATURES_ENTRY_TAG, num_rows),
            _varints(entry_size[:, None]),
            _constant(key_field + _ENTRY_VALUE_TAG, num_rows),
            _varints(feature_size[:, None]),
            _constant(list_tag, num_rows),
            _varints(list_size[:, None]),
        ]
        if has_values:
            parts += [
                _constant(_PACKED_VALUES_TAG, num_rows),
                _varints(payload.lengths[:, None]),
                payload,
            ]
        feature_parts.append(parts)

    parts = [_constant(_EXAMPLE_FEATURES_TAG, num_rows), _varints(features_size[:, None])]
    for feature in feature_parts:
        parts += feature
    examples = _concat_rows(parts)

    buffer = examples.data.tobytes()
    ends = np.cumsum(examples.lengths).tolist()
    starts = [0] + ends[:-1]
    return [buffer[start:end] for start, end in zip(starts, ends)]


def _validate(columns: dict[str, np.ndarray]) -> int:
    """The shared row count N, after checking every column is a 2-D array of a supported dtype."""
    if not columns:
        raise ValueError("columns is empty: an Example needs at least one feature")
    num_rows = None
    for name, values in columns.items():
        if not isinstance(values, np.ndarray) or values.ndim != 2:
            shape = getattr(values, "shape", type(values).__name__)
            raise ValueError(f"feature {name!r}: expected a 2-D NumPy array [N, k], got {shape}")
        integer = np.issubdtype(values.dtype, np.integer)
        if not integer and values.dtype not in (np.float32, np.float64):
            raise ValueError(
                f"feature {name!r}: unsupported dtype {values.dtype} "
                "(integer dtypes become int64_list, float32/float64 become float_list)")
        # uint64 values above the int64 range would silently wrap to negatives.
        if values.dtype == np.uint64 and values.max(initial=0) > np.iinfo(np.int64).max:
            raise ValueError(f"feature {name!r}: uint64 values above 2**63-1 do not fit int64")
        if num_rows is None:
            num_rows = values.shape[0]
        elif values.shape[0] != num_rows:
            first = next(iter(columns))
            raise ValueError(
                f"feature {name!r} has {values.shape[0]} rows but {first!r} has {num_rows}")
    return num_rows


def _varints(values: np.ndarray) -> _Rows:
    """The varint encodings of an int64 [N, k] array, concatenated row by row."""
    # Negative values are encoded as their 64-bit two's complement, which always takes 10 bytes.
    unsigned = values.view(np.uint64)
    # Only the thresholds the largest value reaches matter: token ids need at most 3 bytes.
    thresholds = _VARINT_THRESHOLDS[_VARINT_THRESHOLDS <= unsigned.max(initial=0)]
    sizes = np.ones(values.shape, dtype=np.uint8)  # bytes per value
    for threshold in thresholds:
        sizes += unsigned >= threshold
    # One plane per byte position keeps the temporaries small (not [N, k, 10] uint64) and fast.
    width = len(thresholds) + 1
    byte_matrix = np.empty(values.shape + (width,), dtype=np.uint8)
    used = np.empty(values.shape + (width,), dtype=bool)
    for j in range(width):
        low_bits = ((unsigned >> np.uint64(7 * j)) & np.uint64(0x7F)).astype(np.uint8)
        # Every byte but a value's last has the continuation bit set.
        byte_matrix[..., j] = low_bits | ((sizes > j + 1).astype(np.uint8) << 7)
        used[..., j] = sizes > j
    # Row-major order: row 0's values first, each value's bytes in order.
    data = np.compress(used.ravel(), byte_matrix.ravel())
    return _Rows(data, sizes.sum(axis=1, dtype=np.int64))


def _varint(value: int) -> bytes:
    """One varint, for the constant key lengths."""
    return _varints(np.array([[value]], dtype=np.int64)).data.tobytes()


def _field_size(body_size: np.ndarray) -> np.ndarray:
    """Bytes of a length-delimited field: its one-byte tag, the varint body length, the body."""
    length_size = 1 + np.searchsorted(_VARINT_THRESHOLDS, body_size.astype(np.uint64), side="right")
    return 1 + length_size + body_size


def _constant(value: bytes, num_rows: int) -> _Rows:
    """The same bytes in every row."""
    data = np.tile(np.frombuffer(value, dtype=np.uint8), num_rows)
    return _Rows(data, np.full(num_rows, len(value), dtype=np.int64))


def _concat_rows(parts: list[_Rows]) -> _Rows:
    """Row i of the result is row i of every part, joined in order."""
    part_lengths = np.stack([part.lengths for part in parts])  # [parts, N]
    row_lengths = part_lengths.sum(axis=0)
    row_starts = np.cumsum(row_lengths) - row_lengths
    starts_in_row = np.cumsum(part_lengths, axis=0) - part_lengths
    out = np.empty(row_lengths.sum(), dtype=np.uint8)
    for part, start_in_row in zip(parts, starts_in_row):
        # Each byte moves by (where its row's piece goes) - (where its row's piece is now).
        source_starts = np.cumsum(part.lengths) - part.lengths
        shift = row_starts + start_in_row - source_starts
        out[np.arange(part.data.size) + np.repeat(shift, part.lengths)] = part.data
    return _Rows(out, row_lengths)
