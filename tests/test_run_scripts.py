"""The command lines as a user meets them: every settings field is a flag of its script with the
field's default and help (they cannot drift apart), `--help` lists the script's own and the
shared settings (not the libraries' internals), and a wrong flag is one line."""

import json
import subprocess

import pytest

from helpers import REPO, python

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

# Checks every command in one process (one TensorFlow import; argv[1]: JSON list of [script,
# settings class, flags --help must show, own defaults]). Each script runs as its command line
# (`runpy` as __main__) with --helpshort (its flags defined and parsed, help printed), its
# flags are compared with the settings class, and it runs again with --help, whose output is
# kept. Then its flags are deleted, so that the next script defines its own (with its own
# defaults). Prints JSON {script: {"failure": traceback or null, "exit": --help's exit
# status, "help": what --help printed}}.
CHECK_ALL = r"""
import contextlib, importlib, io, json, runpy, sys, traceback
from absl import flags
from biobert_tf.engine import settings
FLAGS = flags.FLAGS

def run_script(script, flag):
    # (exit status, stdout) of the command line `script flag`.
    sys.argv = [script, flag]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as e:
            return e.code or 0, printed.getvalue()
    return 0, printed.getvalue()

def check(script, target, shown, own):
    code, _ = run_script(script, "--helpshort")
    assert not code, code
    module, name = target.split(":")
    cls = getattr(importlib.import_module(module), name)
    for field in settings.fields(cls):
        flag, default = FLAGS[field.name], settings.default_of(field)
        expected = list(default) if isinstance(default, tuple) else default
        assert flag.default == expected, field.name
        assert flag.help.endswith(field.metadata["help"]), field.name
    for flag, default in own.items():
        assert FLAGS[flag].default == default, flag
    help_text = FLAGS.main_module_help()  # what --help prints
    for flag in [f.name for f in settings.fields(cls)] + shown:
        assert f"--{flag}" in help_text or f"--[no]{flag}" in help_text, flag
    assert "--logtostderr" not in help_text  # the libraries' internals stay under --helpfull

results = {}
for script, target, shown, own in json.loads(sys.argv[1]):
    try:
        check(script, target, shown, own)
        failure = None
    except Exception:
        failure = traceback.format_exc()
    code, printed = run_script(script, "--help")
    results[script] = {"failure": failure, "exit": code, "help": printed}
    for flag in FLAGS.get_key_flags_for_module(script):
        delattr(FLAGS, flag.name)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def checked():
    """CHECK_ALL's results, keyed by command (as in COMMANDS)."""
    jobs = [[str(REPO / name), target, list(SHARED + shown), OWN_DEFAULTS.get(name, {})]
            for name, (target, shown) in COMMANDS.items()]
    result = subprocess.run([*python(), "-c", CHECK_ALL, json.dumps(jobs)],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.splitlines()[-1])
    return {name: results[str(REPO / name)] for name in COMMANDS}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_flags_are_the_settings_fields_and_help_lists_them(checked, name):
    assert checked[name]["failure"] is None, checked[name]["failure"]
    shown = checked[name]["help"]
    assert checked[name]["exit"] == 0 and "--max_seq_length" in shown
    assert "--logtostderr" not in shown


def test_a_wrong_flag_through_a_real_command_line():
    wrong = subprocess.run([*python(), str(REPO / "run_re.py"), "--no_such_flag=1"],
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert wrong.returncode != 0
    assert "no_such_flag" in wrong.stderr and "Traceback" not in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
