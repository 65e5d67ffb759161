"""Relation heads: shapes, padding masking, sll_att weights, entity positions, training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine.training import global_counts
from biobert_tf.tasks.classification import ClassificationObjective
from biobert_tf.tasks.relation.model import HEADS, RelationHead, RelationModel

B, L, H = 3, 10, 16


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.array([10, 6, 3])
    mask = (np.arange(L)[None] < lengths[:, None]).astype(np.int32)
    return {"token_ids": (rng.integers(5, 60, (B, L)) * mask).astype(np.int32),
            "segment_ids": np.zeros((B, L), np.int32), "padding_mask": mask,
            "e1_start": np.array([1, 2, 1], np.int32), "e2_start": np.array([5, 4, 2], np.int32),
            "label_id": np.array([0, 1, 2], np.int32)}


def model(head):
    keras.utils.set_random_seed(0)
    return RelationModel(BertEncoder.from_bert_config(BertConfig(
        vocab_size=64, hidden_size=H, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=L)), 3, head, lstm_units=8)


@pytest.mark.parametrize("head", HEADS)
def test_head_shapes_and_padding_never_leaks(head):
    m = model(head)
    x = inputs()
    scores = m(x)
    assert scores.shape == (B, 3) and scores.dtype == tf.float32
    width = {"cls": H, "entity_start": 2 * H, "mean_pool": H, "max_pool": H,
             "sll_att": 2 * H, "lstm": H + 8, "bilstm": H + 16}[head]
    outputs = m.encoder({k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    vector = m.head(outputs["sequence_output"], outputs["pooled_output"], x["padding_mask"],
                    x["e1_start"], x["e2_start"])
    assert vector.shape == (B, width)
    # Different tokens at padded positions change nothing.
    noisy = dict(x, token_ids=np.where(x["padding_mask"] > 0, x["token_ids"], 7).astype(np.int32))
    np.testing.assert_allclose(m(noisy).numpy(), scores.numpy(), atol=1e-5)


def test_sll_att_weights_cover_real_tokens_after_cls_only():
    head = RelationHead("sll_att", H)
    sequence = tf.random.normal([B, L, H])
    x = inputs()
    weights = head.attention_weights(sequence, x["padding_mask"]).numpy()
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-6)
    assert (weights[x["padding_mask"][:, 1:] == 0] == 0).all()
    assert weights.shape == (B, L - 1)


def test_entity_start_reads_the_entity_positions():
    head = RelationHead("entity_start", H)
    sequence = tf.reshape(tf.range(B * L * H, dtype=tf.float32), [B, L, H])
    x = inputs()
    vector = head(sequence, tf.zeros([B, H]), x["padding_mask"], x["e1_start"], x["e2_start"])
    for b in range(B):
        np.testing.assert_array_equal(vector[b, :H], sequence[b, x["e1_start"][b]])
        np.testing.assert_array_equal(vector[b, H:], sequence[b, x["e2_start"][b]])


def test_unknown_head_is_rejected():
    with pytest.raises(ValueError, match="unknown relation head 'attention'"):
        RelationHead("attention", H)


@pytest.mark.parametrize("head", ["sll_att", "bilstm"])
def test_a_few_steps_fit_a_tiny_batch(head):
    m = model(head)
    task = ClassificationObjective(m)
    x = {k: tf.constant(v) for k, v in inputs().items()}
    optimizer = keras.optimizers.Adam(1e-2)

    @tf.function(autograph=False)  # as the training loop's steps: a quicker trace
    def step():
        with tf.GradientTape() as tape:
            loss, _ = task.compute(x, global_counts(task, x), training=True)
        grads = tape.gradient(loss, m.trainable_variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, m.trainable_variables)
                                   if g is not None])
        return loss

    losses = [float(step()) for _ in range(30)]
    assert losses[-1] < 0.2 * losses[0]
    probabilities = task.predict(x)["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(1) == inputs()["label_id"]).all()
