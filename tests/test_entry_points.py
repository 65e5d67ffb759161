"""The checkpoint converter and the corpus tools given bad input: exit status 1 and one line on
stderr that names the file (and line) or the flag, never a traceback."""

import os
import subprocess

import pytest
import tensorflow as tf

from biobert_tf import resources
from helpers import REPO, python

VOCAB = resources.path(resources.DEMO_VOCAB)


def run(module, *args):
    result = subprocess.run([*python(), "-m", module, *args], capture_output=True,
                            text=True, timeout=300, cwd=REPO)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr[-3000:]
    return result.stderr


@pytest.fixture
def files(tmp_path):
    """Bad inputs: an empty file, malformed XML, a file that is not UTF-8."""
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "bad.xml").write_text(
        "<?xml version='1.0'?>\n<PubmedArticleSet>\n<PubmedArticle>\n<broken\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("One sentence.\nNa\u00efve T cells.\n".encode("latin-1"))
    return tmp_path


def test_convert_missing_checkpoint(tmp_path):
    error = run("biobert_tf.bert.convert", f"--input={tmp_path}/nothing", f"--output={tmp_path}",
                "--to=hf")
    assert f"{tmp_path}/nothing" in error


def test_convert_bad_flag_value(tmp_path):
    error = run("biobert_tf.bert.convert", f"--input={tmp_path}", f"--output={tmp_path}",
                "--to=pytorch")
    assert error.startswith("convert.py: error: flag --to=pytorch:")


def test_convert_truncated_checkpoint(tmp_path):
    prefix = str(tmp_path / "model.ckpt")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["bert/embeddings/word_embeddings"],
                      shape_and_slices=[""], tensors=[tf.zeros([64, 16])])
    data = f"{prefix}.data-00000-of-00001"
    os.truncate(data, os.path.getsize(data) // 2)
    error = run("biobert_tf.bert.convert", f"--input={prefix}", f"--output={tmp_path}/out",
                "--to=hf")
    assert f"cannot read TF1 checkpoint {prefix}" in error


def test_create_pretraining_data_empty_and_malformed_input(files):
    args = [f"--output_file={files}/out.tfrecord", f"--vocab_file={VOCAB}", "--noprogress",
            "--num_workers=1"]
    error = run("tfrecords_tools.create_pretraining_data", f"--input_file={files}/empty.txt",
                *args)
    assert f"--input_file={files}/empty.txt: no documents" in error and "nothing written" in error
    assert not [name for name in os.listdir(files) if name.startswith("out.tfrecord")]
    error = run("tfrecords_tools.create_pretraining_data", f"--input_file={files}/bad.xml", *args)
    assert f"{files}/bad.xml:4: malformed XML" in error


def test_build_vocab_undecodable_input(files):
    error = run("tfrecords_tools.build_vocab", f"--input_file={files}/latin1.txt",
                f"--output_file={files}/vocab", "--model=sentencepiece")
    assert f"{files}/latin1.txt:2: not valid UTF-8" in error


def test_beam_pipeline_missing_vocab(files):
    pytest.importorskip("apache_beam")
    error = run("tfrecords_tools.beam_pipeline", f"--input_file={files}/latin1.txt",
                f"--output_prefix={files}/out", f"--vocab_file={files}/vocab.txt")
    assert f"{files}/vocab.txt" in error
