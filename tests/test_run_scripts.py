"""The command lines as a user meets them: every settings field is a flag of its script with the
field's default and help (they cannot drift apart), `--help` lists the script's own and the
shared settings (not the libraries' internals), and a wrong flag is one line."""

import json
import subprocess
import sys

import pytest

from helpers import REPO

# command → (the settings class its flags are generated from, flags --help must show)
COMMANDS = {
    "run_ner.py": ("biobert_tf.tasks.ner.task:NerSettings", ("use_crf", "window_stride")),
    "run_re.py": ("biobert_tf.tasks.relation.task:RelationSettings", ("head", "entity_mode")),
    "run_qa.py": ("biobert_tf.tasks.qa.task:QaSettings", ("doc_stride", "question_type")),
    "run_pretraining.py": ("biobert_tf.pretraining.run:PretrainingSettings",
                           ("input_file", "num_train_steps", "max_predictions_per_seq")),
    "biobert_tf/tasks/ner/bilstm/bilm.py": ("biobert_tf.tasks.ner.bilstm.bilm:BiLmSettings",
                                            ("input_file", "lstm_units")),
}
SHARED = ("max_seq_length", "train_batch_size", "learning_rate", "output_dir", "seed")
# Defaults of the original scripts that differ from the shared ones.
OWN_DEFAULTS = {"run_qa.py": {"max_seq_length": 384},
                "run_pretraining.py": {"keep_checkpoint_max": 5, "seed": 12345},
                "biobert_tf/tasks/ner/bilstm/bilm.py": {"learning_rate": 1e-3,
                                                        "max_seq_length": 64}}

# Runs the command line with --helpshort (its flags defined and parsed, help printed), then
# compares its flags with the settings class.
CHECK = r"""
import importlib, json, runpy, sys
script, target, shown, own = sys.argv[1:]
sys.argv = [script, "--helpshort"]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
from absl import flags
from biobert_tf.engine import settings
module, name = target.split(":")
cls = getattr(importlib.import_module(module), name)
FLAGS = flags.FLAGS
for field in settings.fields(cls):
    flag, default = FLAGS[field.name], settings.default_of(field)
    assert flag.default == (list(default) if isinstance(default, tuple) else default), field.name
    assert flag.help.endswith(field.metadata["help"]), field.name
for flag, default in json.loads(own).items():
    assert FLAGS[flag].default == default, flag
help_text = FLAGS.main_module_help()  # what --help prints
for flag in [f.name for f in settings.fields(cls)] + shown.split(","):
    assert f"--{flag}" in help_text or f"--[no]{flag}" in help_text, flag
assert "--logtostderr" not in help_text  # the libraries' internals stay under --helpfull
print("ok")
"""


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_flags_are_the_settings_fields_and_help_lists_them(name):
    target, own_flags = COMMANDS[name]
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(REPO / name), target, ",".join(SHARED + own_flags),
         json.dumps(OWN_DEFAULTS.get(name, {}))],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "ok", \
        result.stderr[-3000:]


def test_help_and_a_wrong_flag_through_a_real_command_line():
    shown = subprocess.run([sys.executable, str(REPO / "run_re.py"), "--help"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert shown.returncode == 0 and "--max_seq_length" in shown.stdout
    assert "--logtostderr" not in shown.stdout
    wrong = subprocess.run([sys.executable, str(REPO / "run_re.py"), "--no_such_flag=1"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert wrong.returncode != 0
    assert "no_such_flag" in wrong.stderr and "Traceback" not in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
