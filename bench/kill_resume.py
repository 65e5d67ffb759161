"""Exact resume after kill -9, per task and strategy, with the models' real dropout.

For each task (pretraining, NER softmax and CRF, RE, QA, the BiLSTM-CRF and its BiLM) on a
tiny-but-real config (1 layer, hidden 16, a few dozen real examples, dropout as configured)
and each strategy (default; Mirrored on 2 logical CPUs), the run script runs, each time in a
fresh process:

* once uninterrupted;
* once killed with SIGKILL right after it saved the checkpoint of `kill step` (mid-epoch, and
  at an epoch's end, where NER has not yet recorded that epoch's dev score), then the same
  command again, which resumes.

It prints, per case: task, strategy, kill step, tensors compared (the final checkpoint's
model and optimizer tensors, and with early stopping the kept `best/` weights), tensors
differing, max |Δ|, and the test metric of both runs. No TF_DETERMINISTIC_OPS.

    python bench/kill_resume.py [--cases ner,pretraining] [--strategies default,mirrored]

The processes run `KILLABLE` around the real run script: it gives Mirrored two logical CPUs
and kills its own process right after the `kill step` checkpoint was written (a fixed point:
a kill at any moment before the next checkpoint loses the same work).
`tests/engine/test_resume_after_kill.py` uses these helpers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Callable, Sequence

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEMO_NER = REPO / "biobert_tf" / "resources" / "ner_demo"
DEMO_VOCAB = REPO / "biobert_tf" / "resources" / "demo_vocab.txt"
sys.path.insert(0, str(REPO))

# Runs a run script (a path, or `-m module`) with its flags once per output directory, in
# this one process (argv[1]: JSON {"command", "output_dirs", "kill_at"}): the same command,
# as a user would re-run it, minus the TensorFlow import. The last directory's run is killed
# with SIGKILL right after it saved the checkpoint of step `kill_at` (0: never).
# `--distribution_strategy=mirrored` gets two logical CPUs (MirroredStrategy takes one CPU).
KILLABLE = r"""
import json, os, runpy, signal, sys
job = json.loads(sys.argv[1])
import tensorflow as tf
from biobert_tf.engine import distribute, entry
if "--distribution_strategy=mirrored" in job["command"]:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    create_strategy = distribute.create_strategy
    distribute.create_strategy = lambda name="default", **kw: (
        tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if name == "mirrored"
        else create_strategy(name, **kw))
save = tf.train.CheckpointManager.save
def save_then_die(self, *args, **kwargs):
    path = save(self, *args, **kwargs)
    last = path.startswith(job["output_dirs"][-1] + os.sep)
    if last and int(path.rsplit("-", 1)[1]) == job["kill_at"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return path
tf.train.CheckpointManager.save = save_then_die
run = entry.run
def run_each(main):
    for output_dir in job["output_dirs"]:
        sys.argv = [sys.argv[0], *flags, "--output_dir=" + output_dir]
        try:
            run(main)
        except SystemExit as exit:
            if exit.code:
                raise
entry.run = run_each
command = job["command"]
flags = command[2:] if command[0] == "-m" else command[1:]
if command[0] == "-m":
    sys.argv = command[1:]
    runpy.run_module(command[1], run_name="__main__", alter_sys=True)
else:
    sys.argv = command
    runpy.run_path(command[0], run_name="__main__")
"""


def run(command: list[str], output_dirs: list[str], kill_at: int = 0,
        timeout: int = 600, python: Sequence[str] = (sys.executable,)) -> str:
    """Runs `command` (a run script and its flags) into each output directory in turn, in one
    process; with `kill_at`, the last run is killed after the checkpoint of that step. Returns
    the log. `python` is the interpreter's command line (the tests pass their fork server's:
    the process kills itself, so it need not be a fresh one)."""
    job = {"command": command, "output_dirs": [str(d) for d in output_dirs], "kill_at": kill_at}
    result = subprocess.run([*python, "-c", KILLABLE, json.dumps(job)],
                            capture_output=True, text=True, timeout=timeout, cwd=str(REPO),
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    if kill_at:
        assert result.returncode == -9, (f"not killed at step {kill_at} "
                                         f"(exit {result.returncode}):\n{result.stderr[-3000:]}")
    else:
        assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr


def final_tensors(output_dir: str) -> dict[str, np.ndarray]:
    """The model and optimizer tensors of the newest checkpoint, and the kept `best/` weights."""
    import tensorflow as tf

    paths = {"": tf.train.latest_checkpoint(output_dir)}
    best = os.path.join(output_dir, "best", "model")
    if os.path.exists(best + ".index"):
        paths["best/"] = best
    tensors = {}
    for prefix, path in paths.items():
        reader = tf.train.load_checkpoint(path)
        tensors.update({prefix + name: reader.get_tensor(name)
                        for name in reader.get_variable_to_shape_map()
                        if name.endswith("VARIABLE_VALUE")})
    return tensors


@dataclasses.dataclass(frozen=True)
class Difference:
    """Tensors compared, how many differ, and the largest absolute difference."""

    compared: int
    differing: int
    max_delta: float


def compare(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> Difference:
    """How many tensors differ between two runs, and by how much at most."""
    assert expected.keys() == actual.keys(), expected.keys() ^ actual.keys()
    deltas = [float(np.max(np.abs(expected[k].astype(np.float64) - actual[k]), initial=0.0))
              for k in expected]
    differing = sum(not np.array_equal(expected[k], actual[k]) for k in expected)
    return Difference(len(deltas), differing, max(deltas))


# ---- tiny-but-real data and commands per task ---------------------------------------------
EVERY_STEP = ["--save_checkpoints_steps=1", "--iterations_per_loop=1"]  # a checkpoint a step


def _cut_conll(source: pathlib.Path, target: pathlib.Path, sentences: int) -> None:
    text = source.read_text(encoding="utf-8").strip().split("\n\n")[:sentences]
    target.write_text("\n\n".join(text) + "\n", encoding="utf-8")


def _bert_config(path: pathlib.Path, vocab_size: int, seq_length: int) -> str:
    from biobert_tf.bert.config import BertConfig
    BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1,
               num_attention_heads=2, intermediate_size=32,
               max_position_embeddings=seq_length).to_json_file(str(path))
    return str(path)


def _vocab_size(path) -> int:
    return len(pathlib.Path(path).read_text(encoding="utf-8").splitlines())


@dataclasses.dataclass(frozen=True)
class Case:
    """A task's run command (without --output_dir) and how to read its metric."""

    name: str
    command: list[str]
    metric_file: str
    metric: Callable[[str], float]  # of the metric file's text
    by_epochs: bool  # fine-tuning (epochs, early stopping) rather than steps (pretraining)


def _ner_f1(text: str) -> float:
    return float(text.split("FB1:")[1].split()[0])


def _results_value(key: str) -> Callable[[str], float]:
    return lambda text: float(dict(line.split(" = ") for line in text.splitlines())[key])


def _json_value(*keys: str) -> Callable[[str], float]:
    def value(text: str) -> float:
        found = json.loads(text)
        for key in keys:
            found = found[key]
        return float(found)
    return value


def make_cases(directory: pathlib.Path) -> dict[str, Case]:
    """The cases, their data written under `directory` (each 4-6 steps of a few seconds)."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = str(DEMO_VOCAB)
    cases = {}

    ner = directory / "ner"
    ner.mkdir(exist_ok=True)
    for name, count in (("train.tsv", 32), ("devel.tsv", 16), ("test.tsv", 16)):
        _cut_conll(DEMO_NER / name, ner / name, count)
    ner_flags = [f"{REPO / 'run_ner.py'}", f"--data_dir={ner}", "--train_file=train.tsv",
                 "--do_train", "--do_predict", "--num_train_epochs=2",
                 "--early_stopping_patience=2", "--train_batch_size=16", "--learning_rate=1e-3",
                 "--predict_batch_size=16", *EVERY_STEP]
    ner_config = _bert_config(ner / "bert_config.json", _vocab_size(vocab), 32)
    bert = [f"--bert_config_file={ner_config}", f"--vocab_file={vocab}", "--do_lower_case=false",
            "--max_seq_length=32"]
    cases["ner"] = Case("ner", ner_flags + bert, "test_results.txt", _ner_f1, True)
    cases["ner_crf"] = Case("ner_crf", ner_flags + bert + ["--use_crf"], "test_results.txt",
                            _ner_f1, True)
    cases["bilstm_crf"] = Case(
        "bilstm_crf", ner_flags + ["--model=bilstm_crf", "--lstm_units=16",
                                   "--word_embedding_dim=16", "--char_embedding_dim=8",
                                   "--char_filters=8"],
        "test_results.txt", _ner_f1, True)

    bilm = directory / "bilm"
    bilm.mkdir(exist_ok=True)
    lines = [line for line in (SHARED_DATA / "corpus" / "bioasq_abstracts.txt")
             .read_text(encoding="utf-8").splitlines() if line.strip()][:24]
    (bilm / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cases["bilm"] = Case(
        "bilm", ["-m", "biobert_tf.tasks.ner.bilstm.bilm", f"--input_file={bilm / 'corpus.txt'}",
                 "--max_seq_length=32", "--train_batch_size=32", "--num_train_epochs=2",
                 "--eval_fraction=0.1", "--lstm_units=16", "--word_embedding_dim=16",
                 "--char_embedding_dim=8", "--char_filters=8", *EVERY_STEP],
        "eval_results.txt", _results_value("perplexity"), False)

    gad = directory / "gad"
    gad.mkdir(exist_ok=True)
    for split, rows in (("train", 48), ("test", 17)):
        text = (SHARED_DATA / "re" / "GAD" / "1" / f"{split}.tsv").read_text(encoding="utf-8")
        (gad / f"{split}.tsv").write_text("".join(text.splitlines(True)[:rows]),
                                          encoding="utf-8")
    re_vocab = gad / "vocab.txt"
    re_vocab.write_text(DEMO_VOCAB.read_text(encoding="utf-8") +
                        "".join(f"[unused{i}]\n" for i in range(4)), encoding="utf-8")
    re_config = _bert_config(gad / "bert_config.json", _vocab_size(re_vocab), 32)
    cases["re"] = Case(
        "re", [f"{REPO / 'run_re.py'}", "--task_name=gad", f"--data_dir={gad}",
               f"--bert_config_file={re_config}", f"--vocab_file={re_vocab}",
               "--do_lower_case=false", "--max_seq_length=32", "--train_batch_size=16",
               "--learning_rate=1e-3", "--num_train_epochs=2", "--do_train", "--do_predict",
               *EVERY_STEP],
        "test_metrics.json", _json_value("accuracy"), True)

    qa = directory / "qa"
    qa.mkdir(exist_ok=True)
    squad = json.loads((SHARED_DATA / "qa" / "SQuAD-v1.1" / "dev-v1.1.json")
                       .read_text(encoding="utf-8"))
    squad["data"] = [{"title": "cut", "paragraphs": squad["data"][0]["paragraphs"][:2]}]
    (qa / "squad.json").write_text(json.dumps(squad))
    qa_config = _bert_config(qa / "bert_config.json", _vocab_size(vocab), 64)
    cases["qa"] = Case(
        "qa", [f"{REPO / 'run_qa.py'}", "--do_train", "--do_predict",
               f"--train_file={qa / 'squad.json'}", f"--predict_file={qa / 'squad.json'}",
               f"--bert_config_file={qa_config}", f"--vocab_file={vocab}",
               "--do_lower_case=false", "--max_seq_length=64", "--doc_stride=32",
               "--max_query_length=16", "--train_batch_size=16", "--learning_rate=3e-3",
               "--num_train_epochs=2", "--n_best_size=5", *EVERY_STEP],
        "qa_metrics.json", _json_value("squad", "f1"), True)

    cases["pretraining"] = Case(
        "pretraining", [f"{REPO / 'run_pretraining.py'}",
                        *pretraining_flags(directory / "pretraining"), "--do_train",
                        "--num_train_steps=6", "--do_eval", "--max_eval_steps=2", *EVERY_STEP],
        "eval_results.txt", _results_value("masked_lm_accuracy"), False)
    return cases


def pretraining_flags(directory: pathlib.Path) -> list[str]:
    """Real PubMed instances in two TFRecord files, a tiny config and the flags that read them."""
    from biobert_tf.bert.tokenization import BertTokenizer
    from tfrecords_tools import pipeline
    from tfrecords_tools.corpus import read_documents
    from tfrecords_tools.instances import InstanceOptions

    seq, predictions = 32, 5
    directory.mkdir(parents=True, exist_ok=True)
    docs = list(read_documents(str(SHARED_DATA / "corpus" / "bioasq_abstracts.txt")))[:30]
    tokenizer = BertTokenizer(str(DEMO_VOCAB), do_lower_case=False)
    [(instances, _)] = pipeline.process_chunk(docs, tokenizer,
                                              InstanceOptions(seq, predictions), 1, 5)
    paths = [str(directory / f"data-{i}.tfrecord") for i in range(2)]
    with pipeline.RoundRobinWriter(paths) as writer:
        writer.write(pipeline.serialize(instances))
    config = _bert_config(directory / "bert_config.json", len(tokenizer.vocab), seq)
    return [f"--input_file={directory}/data-*.tfrecord", f"--bert_config_file={config}",
            f"--vocab_file={DEMO_VOCAB}", f"--max_seq_length={seq}",
            f"--max_predictions_per_seq={predictions}", "--train_batch_size=8",
            "--learning_rate=1e-3", "--num_warmup_steps=2"]


def kill_steps(case: Case, log: str) -> list[int]:
    """Mid-epoch and epoch-end kill steps (pretraining and the BiLM: the middle step)."""
    if not case.by_epochs:
        total = int(re.findall(r"step (\d+)/(\d+)", log)[-1][1])
        return [total // 2]
    per_epoch = int(re.search(r"(\d+) steps per epoch", log).group(1))
    return [per_epoch // 2 or 1, per_epoch]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="pretraining,ner,ner_crf,re,qa,bilstm_crf,bilm")
    parser.add_argument("--strategies", default="default,mirrored")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        cases = make_cases(root / "data")
        print("| task | strategy | kill step | tensors | differing | max abs diff "
              "| metric straight | metric resumed |")
        print("|---|---|---|---|---|---|---|---|")
        for name in args.cases.split(","):
            case = cases[name]
            for strategy in args.strategies.split(","):
                command = case.command + [f"--distribution_strategy={strategy}"]
                straight = root / f"{name}-{strategy}-straight"
                plan = run(command, [straight])
                reference = final_tensors(str(straight))
                metric = case.metric((straight / case.metric_file).read_text())
                for kill_at in kill_steps(case, plan):
                    killed = root / f"{name}-{strategy}-killed-{kill_at}"
                    run(command, [killed], kill_at=kill_at)
                    resumed_log = run(command, [killed])
                    assert f"restored step {kill_at}" in resumed_log, resumed_log[-3000:]
                    d = compare(reference, final_tensors(str(killed)))
                    resumed = case.metric((killed / case.metric_file).read_text())
                    print(f"| {name} | {strategy} | {kill_at} | {d.compared} | {d.differing} "
                          f"| {d.max_delta:.3g} | {metric:.4f} | {resumed:.4f} |", flush=True)

if __name__ == "__main__":
    main()
