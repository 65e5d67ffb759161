"""Fine-tuning batches: the seeded plan, length grouping, replica slices, resume skips and the
padded lengths of compiled steps."""

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.engine import batching


def features(count=100, width=16, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, width + 1, count)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int32)
    return {"token_ids": (np.arange(count)[:, None] * mask).astype(np.int32),
            "padding_mask": mask, "label": np.arange(count, dtype=np.int32)}


def test_schedule_counts_whole_batches_and_epochs():
    schedule = batching.schedule(100, 32, 2.5)
    assert (schedule.steps_per_epoch, schedule.num_epochs, schedule.num_train_steps) == (3, 3, 9)
    assert schedule.warmup_steps(0.1) == 0 and batching.schedule(100, 8, 1).warmup_steps(0.5) == 6
    with pytest.raises(ValueError, match="only 5 training examples for a batch size of 8"):
        batching.schedule(5, 8, 1)


def test_train_plan_is_seeded_covers_each_epoch_and_groups_lengths():
    lengths = features()["padding_mask"].sum(1)
    plan = batching.train_plan(lengths, 8, 2, seed=3)
    assert len(plan) == 2 * (100 // 8)
    for epoch in (plan[:12], plan[12:]):
        seen = np.concatenate(epoch)
        assert len(set(seen)) == len(seen) == 96  # no repeats inside an epoch
    again = batching.train_plan(lengths, 8, 2, seed=3)
    assert all((a == b).all() for a, b in zip(plan, again))
    other = batching.train_plan(lengths, 8, 2, seed=4)
    assert not all((a == b).all() for a, b in zip(plan, other))
    # Grouping by length leaves much less padding than random batches.
    grouped = sum(lengths[b].max() * len(b) for b in plan)
    plain = sum(lengths[b].max() * len(b)
                for b in batching.train_plan(lengths, 8, 2, 3, group_by_length=False))
    assert grouped < 0.8 * plain


class Context:
    def __init__(self, pipelines, pipeline_id, replicas):
        self.num_input_pipelines, self.input_pipeline_id = pipelines, pipeline_id
        self.num_replicas_in_sync = replicas


def test_dataset_gives_each_replica_its_slice_trimmed_to_the_batch_length():
    data = features()
    plan = batching.train_plan(data["padding_mask"].sum(1), 8, 1, seed=0)
    # Two workers with two replicas each: worker 1 takes slices 2 and 3 of every batch.
    batches = list(batching.make_dataset(data, plan, Context(2, 1, 4)).as_numpy_iterator())
    assert len(batches) == 2 * len(plan)
    for step, indices in enumerate(plan):
        parts = np.array_split(indices, 4)
        width = data["padding_mask"][indices].sum(1).max()
        for replica in (0, 1):
            batch = batches[2 * step + replica]
            np.testing.assert_array_equal(batch["label"], parts[2 + replica])
            assert batch["token_ids"].shape == (2, width)
    # For prediction every worker reads every batch, split among its own two replicas.
    batches = list(batching.make_dataset(data, plan, Context(2, 1, 4), per_worker=True)
                   .as_numpy_iterator())
    assert [b["label"].tolist() for b in batches[:2]] == [p.tolist() for p in
                                                          np.array_split(plan[0], 2)]


def test_dataset_resumes_at_a_step_and_keeps_static_shapes_for_tpu():
    data = features()
    plan = batching.train_plan(data["padding_mask"].sum(1), 8, 2, seed=0)
    full = list(batching.make_dataset(data, plan, Context(1, 0, 1)).as_numpy_iterator())
    resumed = list(batching.make_dataset(data, plan, Context(1, 0, 1),
                                           start_step=5).as_numpy_iterator())
    assert [b["label"].tolist() for b in resumed] == [b["label"].tolist() for b in full[5:]]
    static = batching.make_dataset(data, plan, Context(1, 0, 2), static_shapes=True)
    assert static.element_spec["token_ids"].shape == tf.TensorShape([4, 16])


def test_compiled_batches_are_padded_to_a_few_lengths():
    data = features(width=40)
    plan = batching.train_plan(data["padding_mask"].sum(1), 8, 3, seed=0)
    batches = list(batching.make_dataset(data, plan, Context(1, 0, 1), length_multiple=16)
                   .as_numpy_iterator())
    for indices, batch in zip(plan, batches, strict=True):
        longest = data["padding_mask"][indices].sum(1).max()
        # Rounded up to a multiple of 16, never beyond the rows' full width.
        assert batch["token_ids"].shape[1] == min(-(-longest // 16) * 16, 40)
        np.testing.assert_array_equal(batch["token_ids"][:, :longest],
                                      data["token_ids"][indices, :longest])
    assert {b["token_ids"].shape[1] for b in batches} == {16, 32, 40}


def test_predict_plan_pads_the_last_batch():
    plan = batching.predict_plan(10, 4)
    assert [p.tolist() for p in plan] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]]
