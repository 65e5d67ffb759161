"""check_data_files reads every input through once: a truncated, corrupt or unfinished TFRecord
file stops the run before training, named, whatever byte the damage is at."""

import os

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings, strategies as st

from biobert_tf.pretraining.data import FEATURES, check_data_files

SEQ, PRED, RECORDS = 16, 3, 40


def _example(row: int) -> bytes:
    lengths = {"seq": SEQ, "pred": PRED}
    features = {}
    for name, (dtype, length) in FEATURES.items():
        values = np.full(lengths.get(length, length), row % 7)
        features[name] = (tf.train.Feature(float_list=tf.train.FloatList(value=values))
                          if dtype == tf.float32 else
                          tf.train.Feature(int64_list=tf.train.Int64List(value=values)))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


@pytest.fixture(scope="module")
def shard_bytes(tmp_path_factory) -> bytes:
    path = str(tmp_path_factory.mktemp("shard") / "data.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for row in range(RECORDS):
            writer.write(_example(row))
    with open(path, "rb") as f:
        return f.read()


def _boundaries(data: bytes) -> set[int]:
    """Offsets where a record ends (8-byte length, 4-byte CRC, data, 4-byte CRC)."""
    ends, offset = set(), 0
    while offset < len(data):
        offset += 16 + int.from_bytes(data[offset:offset + 8], "little")
        ends.add(offset)
    return ends


def test_sound_files_pass_and_the_writers_record_is_skipped(tmp_path, shard_bytes):
    for name in ("data-0.tfrecord", "data-1.tfrecord"):
        (tmp_path / name).write_bytes(shard_bytes)
    (tmp_path / "data-0.tfrecord.run.json").write_text("{}")
    assert check_data_files(f"{tmp_path}/data-*", SEQ, PRED) == [
        f"{tmp_path}/data-0.tfrecord", f"{tmp_path}/data-1.tfrecord"]


def test_each_files_first_record_is_checked_for_lengths_and_token_ids(tmp_path, shard_bytes):
    (tmp_path / "data-0.tfrecord").write_bytes(shard_bytes)  # ids 0..6, row by row
    with tf.io.TFRecordWriter(str(tmp_path / "data-1.tfrecord")) as writer:
        writer.write(_example(1))
        writer.write(_example(3))  # not the first record
    files = f"{tmp_path}/data-*.tfrecord"
    assert len(check_data_files(files, SEQ, PRED, vocab_size=7)) == 2
    with pytest.raises(ValueError, match=rf"^{tmp_path}/data-1\.tfrecord: token id 3 in its "
                                         "first records is beyond the model's vocab_size 3: "
                                         "written with another vocab\?$"):
        check_data_files([f"{tmp_path}/data-1.tfrecord"], SEQ, PRED, vocab_size=3)
    with pytest.raises(ValueError, match=rf"^{tmp_path}/data-0\.tfrecord: token id 6"):
        check_data_files(files, SEQ, PRED, vocab_size=6)
    with pytest.raises(ValueError, match=rf"^{tmp_path}/data-0\.tfrecord: its first record is "
                                         f"not a pretraining example of --max_seq_length={SEQ + 1}"):
        check_data_files(files, SEQ + 1, PRED)
    # A record of other lengths after a sound first one is named by its place.
    with tf.io.TFRecordWriter(str(tmp_path / "data-1.tfrecord")) as writer:
        writer.write(_example(1))
        writer.write(tf.train.Example().SerializeToString())
    with pytest.raises(ValueError, match=rf"^{tmp_path}/data-1\.tfrecord: its record 2 is not a "
                                         "pretraining example of .* \(it has no input_ids, no "
                                         "masked_lm_positions\)$"):
        check_data_files(files, SEQ, PRED)


def test_an_unfinished_shard_is_refused(tmp_path, shard_bytes):
    (tmp_path / "data-0.tfrecord").write_bytes(shard_bytes)
    (tmp_path / "data-1.tfrecord.partial").write_bytes(shard_bytes)
    with pytest.raises(ValueError, match=r"data-1\.tfrecord\.partial: an unfinished shard of "
                                         "create_pretraining_data"):
        check_data_files(f"{tmp_path}/*", SEQ, PRED)


def test_a_file_cut_inside_a_records_length_is_named(tmp_path, shard_bytes):
    # TensorFlow itself reads such a file as if it ended before that record.
    third = sorted(_boundaries(shard_bytes))[2]
    for inside in (1, 7, 11):
        (tmp_path / "data-0.tfrecord").write_bytes(shard_bytes[:third + inside])
        with pytest.raises(ValueError, match=rf"^{tmp_path}/data-0\.tfrecord: truncated or "
                                             rf"corrupt TFRecord file \(truncated record at {third}\)$"):
            check_data_files(f"{tmp_path}/data-0.tfrecord", SEQ, PRED)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.sampled_from(["cut", "flip"]), where=st.floats(0, 1, exclude_max=True),
       bit=st.integers(0, 7))
def test_damage_anywhere_in_a_later_file_is_named(tmp_path, shard_bytes, damage, where, bit):
    at = int(where * len(shard_bytes))
    if damage == "cut":
        damaged = shard_bytes[:at]
    else:
        damaged = bytearray(shard_bytes)
        damaged[at] ^= 1 << bit
    (tmp_path / "data-0.tfrecord").write_bytes(shard_bytes)
    (tmp_path / "data-1.tfrecord").write_bytes(bytes(damaged))
    files = f"{tmp_path}/data-*.tfrecord"
    if damage == "cut" and (at == 0 or at in _boundaries(shard_bytes)):
        assert len(check_data_files(files, SEQ, PRED)) == 2  # whole records: nothing to see
    else:
        with pytest.raises(ValueError, match=rf"^{tmp_path}/data-1\.tfrecord: (truncated or corrupt "
                                             r"TFRecord file \((truncated|corrupted) record at \d+\)|"
                                             "not a TFRecord file)$"):
            check_data_files(files, SEQ, PRED)
    os.remove(tmp_path / "data-1.tfrecord")
