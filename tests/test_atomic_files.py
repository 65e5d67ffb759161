"""Outputs appear whole: an export written through `atomic_directory` is never seen half done
under its name, even when the writer is killed, and replaces an earlier export only once
complete; files and merged folders likewise; object-store paths are written in place."""

import os
import signal
import subprocess
import sys

import pytest
import tensorflow as tf

from biobert_tf import atomic_files
from biobert_tf.engine import serving
from helpers import REPO

# Exports a tiny module to argv[1] with its version beside it, then again as version 2, and
# hangs inside the second export, once its SavedModel is written: the parent kills it there.
KILLED_SCRIPT = """
import os, sys, threading
import tensorflow as tf
from biobert_tf import atomic_files
from biobert_tf.engine import serving

class Doubler(tf.Module):
    def __init__(self, factor):
        self.factor = tf.Variable(factor)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return {"y": x * self.factor}

for version in (1, 2):
    with atomic_files.atomic_directory(sys.argv[1], serving.SAVED_MODEL_FILE) as partial:
        serving.save(Doubler(float(version)), partial)
        if version == 2:
            print("hanging", flush=True)
            threading.Event().wait()
        with open(os.path.join(partial, "version.txt"), "w") as f:
            f.write(str(version))
"""


def siblings(path):
    return sorted(os.listdir(os.path.dirname(path)))


def test_an_export_killed_midway_leaves_the_previous_one_whole(tmp_path):
    export = str(tmp_path / "saved_model")
    process = subprocess.Popen([sys.executable, "-c", KILLED_SCRIPT, export],
                               stdout=subprocess.PIPE, text=True, cwd=REPO,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert process.stdout.readline().strip() == "hanging"
    process.send_signal(signal.SIGKILL)
    process.wait()

    # Under the final name: the first export, whole; the second is a hidden leftover.
    with open(os.path.join(export, "version.txt")) as f:
        assert f.read() == "1"
    served = tf.saved_model.load(export).signatures["serving_default"]
    assert served(tf.constant([3.0]))["y"].numpy().tolist() == [3.0]
    [leftover] = [name for name in siblings(export) if name != "saved_model"]
    assert leftover.startswith(".saved_model.partial-")

    # The next export replaces it, and deletes the leftover.
    with atomic_files.atomic_directory(export, serving.SAVED_MODEL_FILE) as partial:
        tf.saved_model.save(tf.Module(), partial)
        with open(os.path.join(partial, "version.txt"), "w") as f:
            f.write("3")
        assert not os.path.exists(os.path.join(export, "..", leftover))
    with open(os.path.join(export, "version.txt")) as f:
        assert f.read() == "3"
    assert siblings(export) == ["saved_model"]


def test_a_failed_export_leaves_nothing_behind(tmp_path):
    export = str(tmp_path / "saved_model")
    with pytest.raises(RuntimeError, match="failed"):
        with atomic_files.atomic_directory(export, serving.SAVED_MODEL_FILE) as partial:
            open(os.path.join(partial, serving.SAVED_MODEL_FILE), "w").close()
            raise RuntimeError("failed")
    assert os.listdir(tmp_path) == []


def test_an_export_never_replaces_something_else(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "task.json").write_text("{}")
    with pytest.raises(ValueError, match=f"{run}: exists and is not an export "
                                         r"\(no saved_model.pb\)"):
        with atomic_files.atomic_directory(str(run), serving.SAVED_MODEL_FILE):
            pass
    assert os.listdir(tmp_path) == ["run"] and os.listdir(run) == ["task.json"]
    # An empty folder is fine.
    (tmp_path / "empty").mkdir()
    with atomic_files.atomic_directory(str(tmp_path / "empty"),
                                       serving.SAVED_MODEL_FILE) as partial:
        open(os.path.join(partial, "a"), "w").close()
    assert os.listdir(tmp_path / "empty") == ["a"]


def test_files_merged_into_a_folder_keep_the_others_and_leave_no_leftovers(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "README").write_text("mine")
    (tmp_path / "out" / "vocab.txt").write_text("old")
    with atomic_files.whole_files_into(str(tmp_path / "out")) as partial:
        for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001", "vocab.txt"):
            with open(os.path.join(partial, name), "w") as f:
                f.write("new")
        assert not (tmp_path / "out" / "model.ckpt.index").exists()
    assert sorted(os.listdir(tmp_path / "out")) == [
        "README", "model.ckpt.data-00000-of-00001", "model.ckpt.index", "vocab.txt"]
    assert (tmp_path / "out" / "README").read_text() == "mine"
    assert (tmp_path / "out" / "vocab.txt").read_text() == "new"
    assert os.listdir(tmp_path) == ["out"]


def test_text_files_are_replaced_whole_locally_and_in_object_stores(tmp_path):
    atomic_files.write_text(str(tmp_path / "a.txt"), "complete\n")
    assert (tmp_path / "a.txt").read_text() == "complete\n"
    assert os.listdir(tmp_path) == ["a.txt"]
    # TensorFlow's in-memory file system stands for gs://: written through tf.io.gfile.
    atomic_files.write_text("ram://atomic/a.txt", "first")
    atomic_files.write_text("ram://atomic/a.txt", "second")
    assert tf.io.gfile.GFile("ram://atomic/a.txt").read() == "second"
    with atomic_files.atomic_directory("ram://atomic/export", serving.SAVED_MODEL_FILE) as path:
        assert path == "ram://atomic/export"
