"""The command-line entry: a user error is one line on stderr, printed once, exit status 1; a
bug keeps its traceback; TensorFlow starts without log lines."""

import json
import subprocess
import sys

import numpy as np
import pytest
from absl import app

from biobert_tf.bert.config import BertConfig
from biobert_tf.engine import entry, training
from helpers import REPO, fresh_python
from tfrecords_tools import corpus

# A command line without TensorFlow (fast) whose main fails as --fail says.
TOOL = """
import json
from absl import app, flags
from biobert_tf.engine import entry

flags.DEFINE_integer("steps", 1, "Steps.")
flags.DEFINE_string("data", None, "Data.")
flags.DEFINE_string("fail", None, "How main fails.")
flags.mark_flags_as_required(["data"])


def main(argv):
    fail = flags.FLAGS.fail
    if fail == "value":
        raise ValueError("corpus.txt:3: no tab\\nin this line")
    if fail == "missing":
        open("/no/such/corpus.txt")
    if fail == "usage":
        raise app.UsageError("--steps must be positive", exitcode=2)
    if fail == "bug":
        {}["key"]
    if fail == "library_value":
        json.loads("{")
    print("done")


entry.run(main)
"""


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    path = tmp_path_factory.mktemp("entry") / "tool.py"
    path.write_text(TOOL, encoding="utf-8")

    def run(*args):
        return subprocess.run([sys.executable, str(path), *args], capture_output=True,
                              text=True, timeout=60, cwd=REPO)
    return run


@pytest.mark.parametrize("args, status, message", [
    (["--data=d", "--fail=value"], 1, "corpus.txt:3: no tab in this line"),
    (["--data=d", "--fail=missing"], 1, "/no/such/corpus.txt: No such file or directory"),
    (["--data=d", "--fail=usage"], 2, "--steps must be positive"),
    (["--data=d", "--steps=many"], 1,
     "flag --steps=many: invalid literal for int() with base 10: 'many'"),
    (["--data=d", "--stpes=3"], 1, "Unknown command line flag 'stpes'. Did you mean: steps ?"),
    ([], 1, "flag --data=None: Flag --data must have a value other than None."),
])
def test_user_error_is_one_line_printed_once(tool, args, status, message):
    result = tool(*args)
    assert result.returncode == status
    assert result.stderr == f"tool.py: error: {message}\n"
    assert result.stdout == ""


def test_success_prints_nothing_on_stderr(tool):
    result = tool("--data=d")
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")


def test_help_is_a_success(tool):
    result = tool("--help")
    assert result.returncode == 0 and "--steps" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("fail, error", [("bug", "KeyError: 'key'"),
                                         ("library_value", "JSONDecodeError")])
def test_a_bug_keeps_its_traceback(tool, fail, error):
    result = tool("--data=d", f"--fail={fail}")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and error in result.stderr
    assert ": error: " not in result.stderr


def raised(function, *args):
    try:
        function(*args)
    except Exception as error:  # the error as a command line would see it, traceback included
        return error
    raise AssertionError("no error")


def test_user_errors_and_bugs():
    assert entry.is_user_error(training.TrainingDivergedError("loss is nan at step 2"))
    assert entry.is_user_error(raised(open, "/no/such/file"))
    assert entry.is_user_error(app.UsageError("--to is required"))
    assert entry.is_user_error(raised(BertConfig, 0))  # our ConfigError
    assert entry.is_user_error(raised(corpus.expand_input_files, ","))  # our plain ValueError
    assert not entry.is_user_error(raised(json.loads, "{"))  # a library's ValueError
    assert not entry.is_user_error(raised(np.zeros, -1))
    assert not entry.is_user_error(KeyError("key"))


def test_error_message_is_one_line_naming_the_file():
    assert entry.error_message(raised(open, "/no/such/file")) == \
        "/no/such/file: No such file or directory"
    assert entry.error_message(ValueError("a\n  b")) == "a b"
    assert entry.error_message(ValueError()) == "ValueError"


def test_tensorflow_starts_without_log_lines():
    result = fresh_python("from biobert_tf.engine import entry\n"
                          "entry.quiet_tensorflow()\n"
                          "import tensorflow as tf\n"
                          "print(float(tf.reduce_sum(tf.ones([3]))))\n",
                          unset=("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLED_DEVICE_TYPES"))
    assert (result.stdout, result.stderr) == ("3.0\n", "")


@pytest.mark.parametrize("absorbed", [False, True])
def test_onednns_int64_notice_is_absorbed(absorbed):
    # A ragged concat makes an int64 transpose; oneDNN logs an ERROR line about it on CPUs
    # without AVX-512 (and on an AMD EPYC with AVX-512). The driver and serving.load absorb it
    # once the runtime may start.
    result = fresh_python("from biobert_tf.engine import entry\n"
                          "entry.quiet_tensorflow()\n"
                          f"if {absorbed}: entry.absorb_onednn_notice()\n"
                          "import tensorflow as tf\n"
                          "row = tf.ragged.constant([[1], [2, 3]])\n"
                          "print(tf.concat([row, row], axis=1).shape)\n",
                          unset=("TF_CPP_MIN_LOG_LEVEL",))
    assert result.stdout == "(2, None)\n"
    from biobert_tf.engine import distribute
    if absorbed or not distribute.onednn_enabled():
        assert result.stderr == ""
    elif "avx512f" not in distribute.cpu_flags():  # what absorbing hides
        assert entry._ONEDNN_INT64_NOTICE in result.stderr
    else:  # AVX-512: some CPUs print it, some don't; nothing else
        assert result.stderr == "" or (entry._ONEDNN_INT64_NOTICE in result.stderr
                                       and result.stderr.count("\n") == 1)
