"""serving.map_in_chunks: the chunks the model sees, and the results it gives back."""

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.engine import serving

SEQ = 64


def features(lengths: list[int]) -> dict[str, tf.Tensor]:
    """Rows of token ids 1..length (0 after), their padding masks and one id per row."""
    positions = np.arange(SEQ)[None, :]
    lengths = np.array(lengths)[:, None]
    return {"token_ids": tf.constant(np.where(positions < lengths, positions + 1, 0), tf.int32),
            "padding_mask": tf.constant((positions < lengths).astype(np.int32)),
            "row_id": tf.range(len(lengths), dtype=tf.int32)}


def chunk_facts(part: dict) -> dict:
    """What `map_in_chunks` passed: its tokens doubled, and each chunk's rows and width."""
    rows, width = tf.shape(part["token_ids"])[0], tf.shape(part["token_ids"])[1]
    return {"doubled": part["token_ids"] * 2, "row_id": part["row_id"],
            "rows": tf.fill([rows], rows), "width": tf.fill([rows, 2], width)}


OUTPUTS = {"doubled": tf.TensorSpec([None], tf.int32), "row_id": tf.TensorSpec([], tf.int32),
           "rows": tf.TensorSpec([], tf.int32), "width": tf.TensorSpec([2], tf.int32)}


def run(lengths: list[int], chunk_size: int, jit_compile: bool) -> dict[str, np.ndarray]:
    inputs = features(lengths)

    @tf.function(autograph=False)
    def mapped():
        return serving.map_in_chunks(chunk_facts, inputs, chunk_size, SEQ, OUTPUTS, jit_compile,
                                     sequence_keys=["token_ids", "padding_mask"])

    return {k: v.numpy() for k, v in mapped().items()}


@pytest.mark.parametrize("jit_compile, chunks", [
    (False, [8, 5]),
    # Compiled: whole chunks, then the largest power of two left, so that no row is padding.
    (True, [8, 4, 1]),
])
def test_chunks_hold_every_row_once(jit_compile, chunks):
    lengths = [5, 40, 3, 7, 64, 1, 2, 9, 30, 31, 33, 12, 8]
    out = run(lengths, 8, jit_compile)
    assert out["row_id"].tolist() == list(range(13))
    assert out["rows"].tolist() == [n for n in chunks for _ in range(n)]
    expected = features(lengths)["token_ids"].numpy() * 2
    np.testing.assert_array_equal(out["doubled"], expected)  # per position: padded back to SEQ
    assert out["width"].shape == (13, 2)  # a fixed row shape: as returned


@pytest.mark.parametrize("jit_compile", [False, True])
def test_width_is_the_longest_row_rounded_for_xla(jit_compile):
    lengths = [5, 20, 3, 7, 40, 1, 2, 9]  # chunks of 4: longest rows 20 and 40
    widths = run(lengths, 4, jit_compile)["width"][:, 0].tolist()
    assert widths == ([32] * 4 + [64] * 4 if jit_compile else [20] * 4 + [40] * 4)


def test_chunk_size_not_a_power_of_two():
    assert run([3] * 13, 6, True)["rows"].tolist() == [6] * 12 + [1]
    assert run([3] * 11, 6, True)["rows"].tolist() == [6] * 6 + [4] * 4 + [1]


def test_no_rows():
    out = run([], 8, True)
    assert out["doubled"].shape == (0, SEQ) and out["width"].shape == (0, 2)


def test_a_damaged_export_is_one_line(tmp_path):
    module = tf.Module()
    module.weights = tf.Variable(tf.range(50_000, dtype=tf.float32))
    module.__call__ = tf.function(lambda texts: {"n": tf.size(texts)},
                                  input_signature=[tf.TensorSpec([None], tf.string)])
    serving.save(module, str(tmp_path / "model"))
    [data] = (tmp_path / "model" / "variables").glob("variables.data-*")
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"^--ner_model=.*model: cannot read the SavedModel, "
                                         r"damaged or cut short\? \(.+\)$"):
        serving.load(str(tmp_path / "model"), "--ner_model")
