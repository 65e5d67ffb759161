"""predict_file: an output appears under its name only when complete, resumes to the same
bytes after a kill, and belongs to one input and one model (another one is an error)."""

import json
import logging
import os
import re
import signal
import subprocess
import sys

import pytest
from absl import logging as absl_logging
from hypothesis import given, settings, strategies as st

from biobert_tf.atomic_files import PARTIAL_SUFFIX
from biobert_tf.engine.file_prediction import STATE_SUFFIX, predict_file
from helpers import REPO

DOCUMENTS = [f"BRCA{i} is linked to cancer type {i}." for i in range(40)]


def lengths(texts):
    """A stand-in predictor: cheap, deterministic, one result per text."""
    return [{"length": len(text), "text": text} for text in texts]


def write_input(path, documents):
    path.write_text("\n".join(documents) + "\n", encoding="utf-8")
    return str(path)


def uninterrupted(tmp_path, documents):
    source = write_input(tmp_path / "straight.txt", documents)
    predict_file(lengths, source, str(tmp_path / "straight.jsonl"), batch_size=4,
                 progress=False)
    return (tmp_path / "straight.jsonl").read_bytes()


# Predicts batch after batch, and hangs before the fourth: the parent kills it there.
KILLED_SCRIPT = """
import sys, threading
from biobert_tf.engine.file_prediction import predict_file

calls = 0

def predict(texts):
    global calls
    calls += 1
    if calls == 4:
        print("hanging", flush=True)
        threading.Event().wait()
    return [{"length": len(text), "text": text} for text in texts]

predict_file(predict, sys.argv[1], sys.argv[2], batch_size=4, progress=False)
"""


def test_killed_run_resumes_to_the_bytes_of_an_uninterrupted_one(tmp_path):
    expected = uninterrupted(tmp_path, DOCUMENTS)
    source = write_input(tmp_path / "docs.txt", DOCUMENTS)
    output = tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, "-c", KILLED_SCRIPT, source, str(output)],
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout.readline().strip() == "hanging"
    process.send_signal(signal.SIGKILL)
    process.wait()

    # Three batches are in, and nothing says the output is complete.
    partial = tmp_path / ("out.jsonl" + PARTIAL_SUFFIX)
    assert not output.exists()
    assert partial.read_bytes() == b"".join(expected.splitlines(keepends=True)[:12])
    state = json.loads((tmp_path / ("out.jsonl" + STATE_SUFFIX)).read_text())
    assert state["complete"] is False and state["input"] == source
    # A kill in the middle of a line: the half line is cut, then the run goes on.
    with open(partial, "ab") as f:
        f.write(b'{"line": 13, "len')
    assert predict_file(lengths, source, str(output), batch_size=4, progress=False) == 28
    assert output.read_bytes() == expected and not partial.exists()
    assert json.loads((tmp_path / ("out.jsonl" + STATE_SUFFIX)).read_text())["complete"]


@settings(max_examples=30, deadline=None)
@given(documents=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1),
                          min_size=1, max_size=12),
       cut=st.floats(0, 1))
def test_resuming_from_any_cut_gives_the_same_bytes(tmp_path_factory, documents, cut):
    tmp_path = tmp_path_factory.mktemp("cut")
    # One document per line, as the input file holds them.
    documents = [" ".join(d.split()) for d in documents]
    if not any(documents):
        documents.append("x")
    expected = uninterrupted(tmp_path, documents)
    source = write_input(tmp_path / "docs.txt", documents)
    output = str(tmp_path / "out.jsonl")
    predict_file(lengths, source, output, batch_size=4, progress=False)
    # As if killed after writing `cut` of the bytes.
    os.replace(output, output + PARTIAL_SUFFIX)
    with open(output + PARTIAL_SUFFIX, "r+b") as f:
        f.truncate(int(len(expected) * cut))
    predict_file(lengths, source, output, batch_size=4, progress=False)
    with open(output, "rb") as f:
        assert f.read() == expected


def test_another_input_into_the_same_output_is_an_error(tmp_path):
    first = write_input(tmp_path / "first.txt", DOCUMENTS[:6])
    second = write_input(tmp_path / "second.txt", DOCUMENTS[6:])
    output = tmp_path / "out.jsonl"
    predict_file(lengths, first, str(output), progress=False)
    before = output.read_bytes()
    for unfinished in (False, True):
        if unfinished:  # an interrupted output of the first file
            os.replace(output, str(output) + PARTIAL_SUFFIX)
        with pytest.raises(ValueError, match=f"out.jsonl: holds the predictions of "
                           rf"{re.escape(first)} \(sha256 \w+\), not of {re.escape(second)}"
                           ".*: delete"):
            predict_file(lengths, second, str(output), progress=False)
    assert (tmp_path / ("out.jsonl" + PARTIAL_SUFFIX)).read_bytes() == before
    # The same file edited in place is another input too.
    (tmp_path / "first.txt").write_text("Something else.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds the predictions of"):
        predict_file(lengths, first, str(output), progress=False)


def test_a_complete_output_is_left_as_it_is(tmp_path, caplog):
    source = write_input(tmp_path / "docs.txt", DOCUMENTS[:5])
    output = tmp_path / "out.jsonl"
    assert predict_file(lengths, source, str(output), progress=False) == 5
    before = output.read_bytes()
    absl_logging.set_verbosity(absl_logging.INFO)
    with caplog.at_level(logging.INFO, logger="absl"):
        assert predict_file(lengths, source, str(output), progress=False) == 0
    assert "already complete" in caplog.text and output.read_bytes() == before
    # Once the user deletes the output, its state no longer binds the path.
    output.unlink()
    other = write_input(tmp_path / "other.txt", DOCUMENTS[5:8])
    assert predict_file(lengths, other, str(output), progress=False) == 3


def test_other_weights_cannot_continue_an_output(tmp_path):
    model = tmp_path / "run"
    (model / "best").mkdir(parents=True)
    (model / "best" / "model.index").write_bytes(b"weights of epoch 1")
    source = write_input(tmp_path / "docs.txt", DOCUMENTS[:5])
    output = str(tmp_path / "out.jsonl")
    predict_file(lengths, source, output, progress=False, model_dir=str(model))
    assert predict_file(lengths, source, output, progress=False, model_dir=str(model)) == 0
    (model / "best" / "model.index").write_bytes(b"weights of epoch 2")
    with pytest.raises(ValueError, match=rf"out.jsonl: predicted by the model in "
                                         rf"{re.escape(str(model))} \(weights sha256 \w+\)"):
        predict_file(lengths, source, output, progress=False, model_dir=str(model))


def test_an_input_without_text_writes_nothing(tmp_path):
    source = write_input(tmp_path / "blank.txt", ["", "  "])
    with pytest.raises(ValueError, match="blank.txt: no text to predict"):
        predict_file(lengths, source, str(tmp_path / "out.jsonl"), progress=False)
    assert os.listdir(tmp_path) == ["blank.txt"]
