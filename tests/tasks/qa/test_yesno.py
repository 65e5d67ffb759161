"""Yes/no training data: balanced class weights, and the refusal to train without a "no"."""

import numpy as np
import pytest

from biobert_tf.tasks.qa.yesno import LABELS, balanced_weights


def test_balanced_weights_make_each_class_count_the_same():
    labels = np.array([1] * 9 + [0], np.int32)  # 9 "yes", 1 "no"
    weights = balanced_weights(labels, "train.json")
    assert LABELS == ("no", "yes") and weights == pytest.approx([5.0, 10 / 18])
    per_pair = np.array(weights)[labels]
    assert per_pair.mean() == pytest.approx(1.0)  # the loss keeps its scale
    assert per_pair[labels == 0].sum() == pytest.approx(per_pair[labels == 1].sum())


def test_training_without_a_no_is_refused():
    with pytest.raises(ValueError, match="train.json: no training pair is answered 'no': add "
                                         "the golden files of other batches"):
        balanced_weights(np.ones(5, np.int32), "train.json")
