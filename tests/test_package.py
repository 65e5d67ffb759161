"""What importing `biobert_tf` decides before TensorFlow loads: the CPU kernels (oneDNN).

Each case is a fresh interpreter: the choice is made once, at import, by the environment."""

import platform

import pytest

from helpers import fresh_python

X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def run_python(script: str, **env: str) -> str:
    return fresh_python(script, unset=("TF_ENABLE_ONEDNN_OPTS",), **env).stdout.strip()


CHOICE = "import os, biobert_tf; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"


@pytest.mark.skipif(not X86_64, reason="the oneDNN default is for x86-64 CPUs")
def test_onednn_is_the_default_on_x86_64_and_tensorflow_uses_it():
    assert run_python(CHOICE) == "1"
    assert run_python("from biobert_tf.engine import distribute\n"
                      "print(distribute.onednn_enabled())", TF_CPP_MIN_LOG_LEVEL="3") == "True"


def test_the_users_choice_wins():
    assert run_python(CHOICE, TF_ENABLE_ONEDNN_OPTS="0") == "0"


def test_nothing_changes_once_tensorflow_is_loaded():
    # Too late to choose: setting the variable would claim a choice TensorFlow never saw.
    assert run_python("import tensorflow\n" + CHOICE, TF_CPP_MIN_LOG_LEVEL="3") == "None"
