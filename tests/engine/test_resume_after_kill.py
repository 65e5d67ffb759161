"""Exact resume after kill -9, with the models' real dropout: per task, the run script killed
right after a checkpoint (mid-epoch, or at an epoch's end before that epoch's dev score was
recorded) and then run again ends with the weights, optimizer state and kept `best/` weights
of an uninterrupted run of the same command, bit for bit.

Each case is two processes (see bench/kill_resume.py, which also reports the metrics): the
uninterrupted run followed by the killed one, then the same command again. Pretraining under
the default strategy is tested in tests/pretraining/test_pretraining.py.
"""

import sys

import pytest
import tensorflow as tf

from helpers import REPO, python

sys.path.insert(0, str(REPO / "bench"))
import kill_resume  # noqa: E402


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return kill_resume.make_cases(tmp_path_factory.mktemp("kill_resume"))


# (case, strategy, kill step): mid-epoch or an epoch's end (BERT NER and RE train 2 epochs of
# 3 steps, the BiLSTM-CRF 2 of 2, QA 2 of ~30), or mid-run (pretraining: 6 steps). Each case
# costs two TensorFlow processes (35-55 s of CPU), so CI runs the two loops under Mirrored
# (fine-tuning's epochs and early stopping, pretraining's input pipeline; pretraining under the
# default strategy is in test_pretraining.py). The other cases draw their random numbers the
# same way (Keras dropout layers only: the LSTMs have no dropout of their own, the BiLM samples
# nothing) and run with -m slow and in the bench.
slow = pytest.mark.slow
CASES = [("ner", "mirrored", 2), ("pretraining", "mirrored", 3),
         pytest.param("bilstm_crf", "default", 2, marks=slow),
         pytest.param("ner", "default", 3, marks=slow),
         pytest.param("ner_crf", "default", 3, marks=slow),
         pytest.param("re", "default", 2, marks=slow),
         pytest.param("qa", "default", 2, marks=slow),
         pytest.param("bilm", "default", 2, marks=slow)]


@pytest.mark.parametrize("name,strategy,kill_at", CASES)
def test_a_killed_run_resumes_to_the_uninterrupted_weights(cases, tmp_path, name, strategy,
                                                           kill_at):
    # Weights only (the bench also compares the metrics): no test-set prediction. Not
    # XLA-compiled (pretraining's CPU default): each of the three processes would compile, and
    # the compiled step's exact resume is tests/engine/test_training.py's.
    command = [flag for flag in cases[name].command if flag not in ("--do_predict", "--do_eval")
               ] + [f"--distribution_strategy={strategy}", "--nojit_compile"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    kill_resume.run(command, [straight, killed], kill_at=kill_at, python=python())
    end = int(tf.train.latest_checkpoint(str(straight)).rsplit("-", 1)[1])
    assert int(tf.train.latest_checkpoint(str(killed)).rsplit("-", 1)[1]) == kill_at < end
    log = kill_resume.run(command, [killed], python=python())
    assert f"restored step {kill_at}" in log
    difference = kill_resume.compare(kill_resume.final_tensors(str(straight)),
                                     kill_resume.final_tensors(str(killed)))
    assert difference.compared > 20 and difference.differing == 0, difference
