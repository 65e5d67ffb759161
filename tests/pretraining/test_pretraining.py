"""run_pretraining: losses, exact resume after kill -9, strategies, eval, export, and its
command line (flags from the settings, inputs checked before training, one-line errors)."""

import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.bert import checkpoints
from biobert_tf import resources
from biobert_tf.bert.config import BertConfig
from biobert_tf.engine.distribute import create_strategy
from biobert_tf.pretraining import data as pretraining_data
from biobert_tf.pretraining.run import PretrainingSettings, check_usage
from tfrecords_tools import pipeline
from tfrecords_tools.corpus import read_documents
from tfrecords_tools.instances import InstanceOptions
from helpers import REPO, python, shared_file

SEQ, PRED = 32, 5
VOCAB = resources.path(resources.DEMO_VOCAB)


def write_records(directory, seq_length):
    """Two TFRecord files (data-*.tfrecord) of real PubMed instances of `seq_length`; returns
    the tokenizer."""
    from biobert_tf.bert.tokenization import BertTokenizer
    docs = list(read_documents(str(shared_file("corpus", "bioasq_abstracts.txt"))))[:60]
    tokenizer = BertTokenizer(VOCAB, do_lower_case=False)
    [(instances, _)] = pipeline.process_chunk(docs, tokenizer,
                                              InstanceOptions(seq_length, PRED), 1, 5)
    paths = [str(directory / f"data-{i}.tfrecord") for i in range(2)]
    with pipeline.RoundRobinWriter(paths) as writer:
        writer.write(pipeline.serialize(instances))
    return tokenizer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Two TFRecord files of real PubMed instances and a tiny BERT config (one layer: each
    command's cost is mostly tracing and compiling the model)."""
    directory = tmp_path_factory.mktemp("pretraining")
    tokenizer = write_records(directory, SEQ)
    BertConfig(vocab_size=len(tokenizer.vocab), hidden_size=32, num_hidden_layers=1,
               num_attention_heads=2, intermediate_size=64, max_position_embeddings=SEQ,
               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
               ).to_json_file(str(directory / "bert_config.json"))
    return directory


def run_pretraining(data_dir, output_dir, *extra, wait=True, env=None, fresh=False):
    """Runs the command and returns its log; `wait=False` returns the started process,
    `fresh=True` makes that a real process (kill -9 must hit the process that writes)."""
    args = [*([sys.executable] if fresh else python()), str(REPO / "run_pretraining.py"),
            f"--input_file={data_dir}/data-*.tfrecord",
            f"--output_dir={output_dir}", f"--bert_config_file={data_dir}/bert_config.json",
            f"--vocab_file={VOCAB}", f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PRED}",
            "--train_batch_size=8", "--learning_rate=1e-3", "--num_warmup_steps=2", *extra]
    env = dict(os.environ, TF_DETERMINISTIC_OPS="1", **(env or {}))
    if not wait:
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr


def final_weights(output_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(output_dir)))
    # Model weights, optimizer slots and step.
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.endswith("VARIABLE_VALUE")}


def test_train_eval_export_and_resume_after_kill(data_dir, tmp_path):
    # The model's real dropout (the fixture's config has none, for the loss comparisons).
    dropout = dataclasses.replace(BertConfig.from_json_file(str(data_dir / "bert_config.json")),
                                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    dropout.to_json_file(str(tmp_path / "bert_config.json"))
    # Not XLA-compiled (the default on CPUs): each run would compile; the compiled step's
    # exact resume is tests/engine/test_training.py's, its strategies are below.
    steps = ["--do_train", "--num_train_steps=8", "--save_checkpoints_steps=2",
             "--iterations_per_loop=1", "--nojit_compile",
             f"--bert_config_file={tmp_path / 'bert_config.json'}"]
    log = run_pretraining(data_dir, tmp_path / "straight", *steps, "--do_eval",
                          "--max_eval_steps=3")
    assert "step 8/8" in log and "examples/s" in log and "ETA" in log
    results = dict(line.split(" = ") for line in
                   (tmp_path / "straight" / "eval_results.txt").read_text().splitlines())
    assert {"masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy",
            "next_sentence_loss", "loss", "global_step"} <= set(results)
    assert int(results["global_step"]) == 8
    # The export is a Google-layout checkpoint that our loaders (and Google's) read.
    names = {n for n, _ in tf.train.list_variables(
        str(tmp_path / "straight" / "tf1" / "model.ckpt-8"))}
    assert "bert/encoder/layer_0/attention/self/query/kernel" in names
    assert "cls/seq_relationship/output_weights" in names
    checkpoints.load_pretraining_model(str(tmp_path / "straight" / "tf1"), require_heads=True)
    # Evaluating the run needs only its directory and the data (the config was saved).
    evaluated = subprocess.run(
        [*python(), str(REPO / "run_pretraining.py"), f"--input_file={data_dir}/data-*.tfrecord",
         f"--output_dir={tmp_path / 'straight'}", f"--max_seq_length={SEQ}",
         f"--max_predictions_per_seq={PRED}", "--do_eval", "--max_eval_steps=3"],
        # As the training run: with dropout, attention is Keras' einsum path, whose sums
        # differ in the 7th digit without deterministic ops.
        env=dict(os.environ, TF_DETERMINISTIC_OPS="1"), capture_output=True, text=True,
        timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-4000:]
    assert dict(line.split(" = ") for line in (tmp_path / "straight" / "eval_results.txt")
                .read_text().splitlines()) == results
    # Resumed with another optimizer: one line, before training on the run's Adam moments.
    other = subprocess.run(
        [*python(), str(REPO / "run_pretraining.py"), f"--input_file={data_dir}/data-*.tfrecord",
         f"--output_dir={tmp_path / 'straight'}", f"--max_seq_length={SEQ}",
         f"--max_predictions_per_seq={PRED}", *steps[:1], "--num_train_steps=9",
         "--optimizer=lamb", *steps[2:]], capture_output=True, text=True, timeout=600)
    assert other.returncode == 1 and other.stderr.splitlines()[-1] == (
        "run_pretraining.py: error: --optimizer=lamb contradicts the run in --output_dir, "
        f"trained with optimizer=adamw ({tmp_path / 'straight' / 'resume_settings.json'}): "
        "resume it with that, or choose another --output_dir"), other.stderr[-3000:]

    # Kill -9 once the first checkpoint (step 2) is there, then rerun the same command.
    process = run_pretraining(data_dir, tmp_path / "killed", *steps, wait=False, fresh=True)
    deadline = time.time() + 300
    while not tf.train.latest_checkpoint(str(tmp_path / "killed")):
        assert process.poll() is None and time.time() < deadline, process.stdout.read()[-3000:]
        time.sleep(0.02)  # often: the 6 steps left must not all run before the kill
    process.send_signal(signal.SIGKILL)
    process.wait()
    log = run_pretraining(data_dir, tmp_path / "killed", *steps)
    restored = int(log.split("restored step ")[1].split()[0])
    assert restored < 8  # the kill landed mid-training
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "killed")
    assert straight.keys() == resumed.keys() and len(straight) > 80
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
    # (A larger num_train_steps continuing a finished run: tests/engine/test_training.py.)


# Trains the same model 3 steps under each strategy named in argv[2:] (default, mirrored;
# "xla" in the name: XLA-compiled; "accumulated": each replica's batch of 4 in 2 micro-batches),
# one after the other in this one process (one TensorFlow import).
STRATEGY_SCRIPT = r"""
import json, sys, numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
tf.config.experimental.enable_op_determinism()
from biobert_tf.pretraining import data as pretraining_data
from biobert_tf.engine import training
from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder, BertPretrainer
from biobert_tf.engine.optimization import create_optimizer
from biobert_tf.pretraining.objective import PretrainingObjective
import keras
data_dir, out_root, *strategy_names = sys.argv[1:]
def dataset_fn(context, start_step):
    # The same 8 examples per step whatever the replica count: no shuffling, files in order.
    ds = tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(data_dir + "/data-*.tfrecord")))
    ds = ds.batch(8, drop_remainder=True).map(lambda r: pretraining_data.parse_examples(r, 32, 5))
    return (ds.rebatch(context.get_per_replica_batch_size(8))
            if context.num_replicas_in_sync > 1 else ds)
for strategy_name in strategy_names:
    out = out_root + "/" + strategy_name
    strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
                if strategy_name.startswith("mirrored") else tf.distribute.get_strategy())
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = BertPretrainer(BertEncoder.from_bert_config(
            BertConfig.from_json_file(data_dir + "/bert_config.json")))
        optimizer = create_optimizer(1e-3, 10, 1, aggregate_gradients=False)
    np.savez(out + "-initial.npz", *[v.numpy() for v in model.weights])
    trainer = training.Trainer(strategy, PretrainingObjective(model), optimizer,
                               training.LoopConfig(out, 3, 3, 100, global_batch_size=8,
                                                   jit_compile="xla" in strategy_name,
                                                   gradient_accumulation_steps=(
                                                       2 if "accumulated" in strategy_name else 1)))
    trainer.fit(dataset_fn)
    np.savez(out + "/weights.npz", *[v.numpy() for v in model.weights])
"""


def test_phase_two_continues_phase_one_at_a_longer_length_with_its_own_schedule(data_dir,
                                                                                 tmp_path):
    # Phase 1 at length 16 of the config's 32 positions (Google: 128 of 512) on its own records,
    # with LAMB as NVIDIA's BERT recipe.
    short = SEQ // 2
    write_records(tmp_path, short)
    phase_1, phase_2 = tmp_path / "phase1", tmp_path / "phase2"
    log = run_pretraining(data_dir, phase_1, "--do_train", "--num_train_steps=3",
                          "--save_checkpoints_steps=3", "--iterations_per_loop=3",
                          "--nojit_compile", f"--input_file={tmp_path}/data-*.tfrecord",
                          f"--max_seq_length={short}", "--optimizer=lamb")
    assert "optimizer: lamb, 1 micro-batch(es) per replica batch" in log
    # Phase 2 at length 32 on the fixture's records, from phase 1's export, with its own
    # warmup (its first update, at rate 0, leaves the weights as it found them) and steps, its
    # batches of 8 in micro-batches of 4.
    log = run_pretraining(data_dir, phase_2, "--do_train", "--num_train_steps=4",
                          "--num_warmup_steps=2", "--save_checkpoints_steps=1",
                          "--iterations_per_loop=1", "--nojit_compile",
                          f"--init_checkpoint={phase_1}/tf1", "--gradient_accumulation_steps=2")
    assert "optimizer: adamw, 2 micro-batch(es) per replica batch" in log
    assert "step 1/4  loss" in log and "learning_rate 0.0005" in log and "step 4/4" in log
    end_of_1 = tf.train.load_checkpoint(str(phase_1 / "ckpt-3"))
    start_of_2 = tf.train.load_checkpoint(str(phase_2 / "ckpt-1"))
    assert start_of_2.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 1
    weights = [name for name in end_of_1.get_variable_to_shape_map()
               if name.startswith("optimizer/_trainable_variables/")]  # the model's
    assert len(weights) > 20
    for name in weights:
        np.testing.assert_array_equal(end_of_1.get_tensor(name), start_of_2.get_tensor(name),
                                      err_msg=name)
    # Phase 2 trains every position phase 1 never saw (weight decay alone moves a row by ~1e-6).
    table = "bert/embeddings/position_embeddings"
    before = tf.train.load_checkpoint(str(phase_1 / "tf1" / "model.ckpt-3")).get_tensor(table)
    after = tf.train.load_checkpoint(str(phase_2 / "tf1" / "model.ckpt-4")).get_tensor(table)
    assert np.abs(after[short:] - before[short:]).max(axis=1).min() > 1e-4


def test_mirrored_two_cpus_and_xla_equal_one_device(data_dir, tmp_path):
    # One arm both mirrored, XLA-compiled and accumulated (each arm costs a trace per replica
    # and an XLA compilation per device); each alone equals one device in other tests:
    # MirroredStrategy's reduction in tests/engine/test_optimization.py, the mirrored XLA step
    # in tests/tasks/ner/test_task.py, accumulation in tests/engine/test_training.py.
    names = ("default", "mirrored_xla_accumulated")
    result = subprocess.run([*python(), "-c", STRATEGY_SCRIPT, str(data_dir), str(tmp_path),
                             *names], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    one, *others = (np.load(tmp_path / n / "weights.npz") for n in names)
    initial = np.load(tmp_path / "default-initial.npz")
    for name, other in zip(names[1:], others):
        for key in one.files:
            np.testing.assert_allclose(one[key], other[key], atol=2e-5, err_msg=f"{name} {key}")
    moved = [key for key in one.files if np.abs(one[key] - initial[key]).max() > 1e-3]
    assert len(moved) > len(one.files) // 2  # three steps at lr 1e-3 did train


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_two_local_workers_agree(data_dir, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        env = {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                     "index": index}})}
        workers.append(run_pretraining(
            data_dir, tmp_path / "mwms", "--do_train", "--num_train_steps=4",
            "--save_checkpoints_steps=2", "--iterations_per_loop=2", "--nojit_compile",
            "--distribution_strategy=multi_worker_mirrored", wait=False, env=env))
    logs = [w.communicate(timeout=600)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), logs[0][-3000:] + logs[1][-3000:]
    assert all("step 4/4" in log for log in logs)
    # Both workers log the same loss at every step: they hold the same weights.
    losses = [[line.split("loss ")[1].split()[0] for line in log.splitlines()
               if "examples/s" in line] for log in logs]
    assert losses[0] == losses[1] and len(losses[0]) == 2
    assert not [p for p in os.listdir(tmp_path / "mwms") if p.startswith("worker_tmp")]


def test_tpu_strategy_needs_a_tpu_name_and_unknown_strategies_are_rejected():
    with pytest.raises(ValueError, match="needs --tpu_name"):
        create_strategy("tpu")
    with pytest.raises(ValueError, match="unknown distribution strategy"):
        create_strategy("horovod")


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    import keras
    from biobert_tf.engine import training
    from biobert_tf.engine.optimization import create_optimizer

    class NanTask:
        metric_names = ()

        def __init__(self):
            self.model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

        def loss_counts(self, batch):
            return {}

        def compute(self, batch, counts, training):
            return tf.reduce_sum(self.model(batch)) * math.nan, {}

    strategy = tf.distribute.get_strategy()
    task = NanTask()
    trainer = training.Trainer(strategy, task,
                               create_optimizer(1e-3, 10, 0, aggregate_gradients=False),
                               training.LoopConfig(str(tmp_path), 4, 2, 2, global_batch_size=2))
    with pytest.raises(training.TrainingDivergedError, match="loss is nan at step 2"):
        trainer.fit(lambda context, start: tf.data.Dataset.from_tensors(tf.ones([2, 2])).repeat())
    assert tf.train.latest_checkpoint(str(tmp_path)) is None  # nothing bad was saved


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_trains_and_exports_float32(data_dir, tmp_path, precision):
    log = run_pretraining(data_dir, tmp_path, "--do_train", "--num_train_steps=3",
                          "--save_checkpoints_steps=3", "--iterations_per_loop=3",
                          f"--mixed_precision={precision}")
    loss = float(log.split("step 3/3  loss ")[1].split()[0])
    assert math.isfinite(loss)
    reader = tf.train.load_checkpoint(str(tmp_path / "tf1" / "model.ckpt-3"))
    assert reader.get_variable_to_dtype_map()["bert/embeddings/word_embeddings"] == tf.float32


def test_usage_and_data_are_checked_before_anything_runs(data_dir):
    with pytest.raises(ValueError, match="nothing to do"):
        check_usage(PretrainingSettings(input_file="x", output_dir="y"))
    with pytest.raises(ValueError, match="data-0.tfrecord: its first record is not a pretraining "
                                         "example of --max_seq_length=64"):
        pretraining_data.check_data_files(f"{data_dir}/data-*.tfrecord", 64, PRED)
    with pytest.raises(ValueError, match="no pretraining data files match"):
        pretraining_data.check_data_files(f"{data_dir}/none-*.tfrecord", SEQ, PRED)


@pytest.mark.parametrize("flags, message", [
    (["--output_dir=OUT", "--do_train"], "error: --input_file is required"),
    # A malformed evaluation file stops the run before training, not after.
    (["--input_file=DATA/data-*.tfrecord", "--eval_input_file=DATA/bert_config.json",
      "--output_dir=OUT", "--do_train", "--do_eval"], "bert_config.json: not a TFRecord file"),
    # Longer than the model's position embeddings: one line, not a failure inside the model.
    (["--input_file=DATA/data-*.tfrecord", "--output_dir=OUT", "--do_train",
      f"--max_seq_length={SEQ + 1}"],
     f"--max_seq_length={SEQ + 1} is more than the model's max_position_embeddings ({SEQ})"),
])
def test_bad_input_is_one_line_before_any_training(data_dir, tmp_path, flags, message):
    out = tmp_path / "out"
    result = subprocess.run(
        [*python(), str(REPO / "run_pretraining.py"),
         f"--bert_config_file={data_dir}/bert_config.json", f"--max_seq_length={SEQ}",
         f"--max_predictions_per_seq={PRED}", "--num_train_steps=2",
         *(a.replace("DATA", str(data_dir)).replace("OUT", str(out)) for a in flags)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or tf.train.latest_checkpoint(str(out)) is None
