"""run_re end to end on cuts of the real GAD folds and SciBERT ChemProt: BioBERT's result
files, cross-validation, early stopping, init from our own runs, the SavedModel."""

import dataclasses
import json
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.tasks.relation import data as re_data
from biobert_tf.tasks.relation import metrics as re_metrics
from biobert_tf.bert.config import BertConfig
from biobert_tf.annotation import pubtator
from biobert_tf.engine import distribute, driver, prediction_formats, run_dir
from biobert_tf.engine.file_prediction import predict_file
from biobert_tf.tasks.relation.cross_validation import cross_validate
from biobert_tf.tasks.relation.model import RelationSpec
from biobert_tf.tasks.relation.task import RelationSettings, RelationTask, check_labels, \
    classify, prediction_document
from helpers import REPO, python, serve_in_fresh_process, shared_file, xla_compiled_functions
from helpers import re_vocab

STRATEGY = tf.distribute.get_strategy()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny config and the demo vocab with four [unusedN] marker slots."""
    directory = tmp_path_factory.mktemp("tiny_re_model")
    vocab = re_vocab()
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
               num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=64).to_json_file(str(directory / "bert_config.json"))
    return directory


def cut(source, target, lines):
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, encoding="utf-8") as f:
        target.write_text("".join(f.readlines()[:lines]), encoding="utf-8")


@pytest.fixture(scope="module")
def gad_dir(tmp_path_factory):
    """Folds 1 and 2 of GAD: 96 training rows, the header and 40 test rows each."""
    directory = tmp_path_factory.mktemp("gad")
    for fold in ("1", "2"):
        cut(shared_file("re", "GAD", fold, "train.tsv"), directory / fold / "train.tsv", 96)
        cut(shared_file("re", "GAD", fold, "test.tsv"), directory / fold / "test.tsv", 41)
    return directory


@pytest.fixture(scope="module")
def chemprot_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("chemprot")
    for split, lines in (("train", 160), ("dev", 40), ("test", 40)):
        cut(shared_file("re", "ChemProt", f"{split}.jsonl"), directory / f"{split}.jsonl", lines)
    return directory


def tiny_run(model_dir, data_dir, output_dir, **settings):
    values = dict(data_dir=str(data_dir), output_dir=str(output_dir), init_checkpoint=None,
                  bert_config_file=str(model_dir / "bert_config.json"),
                  vocab_file=str(model_dir / "vocab.txt"), do_lower_case=False,
                  max_seq_length=64, do_train=True, train_batch_size=16, eval_batch_size=16,
                  predict_batch_size=16, learning_rate=1e-3, num_train_epochs=1,
                  iterations_per_loop=10)
    values.update(settings)
    return RelationSettings(**values)


@pytest.fixture(scope="module")
def gad_run(model_dir, gad_dir, tmp_path_factory):
    """run_re.py trained on GAD fold 1, predicted and exported: (the finished process, its
    output_dir, its SavedModel). Its output_dir is `cv/1`: the cross-validation test's
    first fold too."""
    folder = tmp_path_factory.mktemp("gad_run")
    out, saved = folder / "cv" / "1", folder / "saved_model"
    args = [*python(), str(REPO / "run_re.py"), "--task_name=gad",
            f"--data_dir={gad_dir / '1'}", f"--output_dir={out}",
            f"--bert_config_file={model_dir / 'bert_config.json'}",
            f"--vocab_file={model_dir / 'vocab.txt'}", "--do_lower_case=false",
            "--max_seq_length=64", "--train_batch_size=16", "--learning_rate=1e-3",
            "--num_train_epochs=2", "--iterations_per_loop=4", "--do_train", "--do_predict",
            # float32 on every CPU (auto is bfloat16 on AVX512-BF16), so that the served
            # probabilities match the predicted ones to 1e-5 everywhere.
            "--mixed_precision=none"]
    result = subprocess.run(args + [f"--export_dir={saved}",
                                    "--predict_text=@GENE$ variants raise @DISEASE$ risk."],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result, out, saved


def test_run_re_writes_biobert_results_and_exports(gad_run, gad_dir, tmp_path):
    # (Resuming a finished run is the shared loop's, tested with run_ner and pretraining.)
    result, out, saved = gad_run
    assert json.loads(result.stdout[result.stdout.index("{"):])["label"] in ("0", "1")
    test = re_data.read_biobert_tsv(gad_dir / "1" / "test.tsv")
    rows = [[float(p) for p in line.split("\t")]
            for line in (out / "test_results.tsv").read_text().splitlines()]
    assert len(rows) == len(test) == 40 and all(len(r) == 2 for r in rows)
    np.testing.assert_allclose(np.sum(rows, 1), 1.0, rtol=1e-5)
    predictions = [json.loads(line) for line in
                   (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [x.id for x in test]
    pred = ["01"[int(np.argmax(r))] for r in rows]
    assert [p["pred"] for p in predictions] == pred
    metrics = json.loads((out / "test_metrics.json").read_text())
    assert metrics == re_metrics.binary_scores([x.label for x in test], pred, "1")
    assert "f1 score" in (out / "test_results.txt").read_text()
    assert json.loads((out / "relation_model.json").read_text())["entity_mode"] == "blind"

    # BioBERT's formatting: str() of each float32 probability.
    assert (out / "test_results.tsv").read_text().splitlines() == [
        "\t".join(str(p) for p in row) for row in np.float32(rows)]

    # The SavedModel takes the raw blinded sentences, in a process without biobert_tf, and
    # agrees with the eager test predictions. Its model part is XLA-compiled where the
    # exporting process ran Eigen's kernels (float32), as its log says; not with oneDNN's.
    compiled = f"encoder is {distribute.SERVING_COMPILED}" in result.stderr
    assert compiled or "encoder is not compiled" in result.stderr
    assert xla_compiled_functions(saved) == compiled
    served = serve_in_fresh_process(saved, {"texts": [x.text for x in test]}, tmp_path)
    np.testing.assert_allclose(served["probabilities"], rows, atol=1e-5)
    # The spec beside it names the entity types; with it `classify` reads the restored model.
    spec = RelationSpec.load(str(saved / "relation_model.json"))
    assert spec == RelationSpec.load(str(out / "relation_model.json"))
    assert (spec.entity_types, spec.placeholders) == (("GENE", "DISEASE"), ("@GENE$", "@DISEASE$"))
    restored = tf.saved_model.load(str(saved))
    first, bad = classify(restored, [test[0].text, "no entities"], spec.labels, spec.entity_mode)
    np.testing.assert_allclose(list(first["probabilities"].values()), rows[0], atol=1e-5)
    assert bad["error"].endswith("(blind mode)")

    # The run directory describes itself: predict-only needs no other flag, and its results
    # go to a fresh folder, never over the training run's.
    def run_re(*flags):
        return subprocess.run([*python(), str(REPO / "run_re.py"), f"--output_dir={out}",
                               *flags], capture_output=True, text=True, timeout=600)

    before = (out / "test_results.tsv").read_text()
    # (The precision is the hardware's choice, not the run's: float32 as in training.)
    again = run_re("--do_predict", "--predict_text=@GENE$ variants raise @DISEASE$ risk.",
                   "--mixed_precision=none")
    assert again.returncode == 0, again.stderr[-4000:]
    [fresh] = [p for p in out.iterdir() if p.name.startswith("predict-")]
    assert f"results go to {fresh}" in again.stderr
    assert (fresh / "test_results.tsv").read_text() == before
    assert json.loads((fresh / "text_predictions.jsonl").read_text())["label"] in ("0", "1")
    assert (out / "test_results.tsv").read_text() == before
    # Bytes that are not UTF-8 in --predict_text: one line, not a traceback from TensorFlow.
    bad = run_re("--predict_text=@GENE$ binds \udcff @DISEASE$")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr[-4000:]
    assert bad.stderr.splitlines()[-1] == ("run_re.py: error: --predict_text: not UTF-8 at "
                                           "character 14")
    # A text the model cannot take: one line and a failed exit, not a JSON error and success.
    unusable = run_re("--predict_text=no entities here")
    assert unusable.returncode == 1 and unusable.stderr.splitlines()[-1] == (
        "run_re.py: error: --predict_text: the sentence does not hold exactly the two entities "
        "(blind mode)")
    # A flag that contradicts the trained model is an error naming both values (in-process:
    # run_ner's test checks that the command line prints it as one line).
    with pytest.raises(ValueError, match="--do_lower_case=true contradicts the trained "
                                         "model's do_lower_case=false"):
        driver.adopt_saved_settings(RelationTask, RelationSettings(
            output_dir=str(out), do_predict=True, do_lower_case=True),
            frozenset({"do_lower_case"}))


def test_cross_validation_reports_mean_and_std_over_folds(gad_run, model_dir, gad_dir):
    # Fold 1 is run_re.py's run (`gad_run`), finished: read back, not trained again. Fold 2
    # is trained here, with its settings.
    out = gad_run[1].parent
    run = tiny_run(model_dir, gad_dir, out, task_name="gad", num_train_epochs=2,
                   iterations_per_loop=4)
    scored = (out / "1" / "test_metrics.json").stat().st_mtime_ns
    summary = cross_validate(run, STRATEGY, folds=2)
    assert (out / "1" / "test_metrics.json").stat().st_mtime_ns == scored
    folds = [json.loads((out / k / "test_metrics.json").read_text()) for k in ("1", "2")]
    assert summary["f1"]["values"] == [f["f1"] for f in folds]
    assert summary["f1"]["mean"] == pytest.approx(np.mean([f["f1"] for f in folds]))
    assert summary["f1"]["std"] == pytest.approx(np.std([f["f1"] for f in folds], ddof=1))
    assert json.loads((out / "cv_results.json").read_text()) == summary
    assert "±" in (out / "cv_results.txt").read_text()
    # Both folds scored now: both read back.
    scored = (out / "2" / "test_metrics.json").stat().st_mtime_ns
    assert cross_validate(run, STRATEGY, folds=2) == summary
    assert (out / "2" / "test_metrics.json").stat().st_mtime_ns == scored


def test_chemprot_markers_early_stopping_and_init_from_our_run(model_dir, chemprot_dir,
                                                               gad_dir, tmp_path):
    run = tiny_run(model_dir, chemprot_dir, tmp_path / "a", task_name="chemprot_scibert",
                   head="entity_start", num_train_epochs=2, early_stopping_patience=1)
    runner = RelationTask(dataclasses.replace(run, do_eval=True, do_predict=True), STRATEGY)
    assert runner.spec.entity_mode == "markers"  # SciBERT's data names its entities
    test_scores = driver.run(runner)["test"]
    assert set(test_scores["per_class"]) == set(runner.spec.labels)
    assert test_scores["negative"] is None and len(runner.spec.labels) > 5
    assert len(json.loads((tmp_path / "a" / "dev_history.json").read_text())) >= 1
    assert (tmp_path / "a" / "eval_results.txt").exists()
    assert "confusion matrix" in (tmp_path / "a" / "test_results.txt").read_text()

    # A later run initialised from this one takes encoder and head (same labels) ...
    follow = RelationTask(tiny_run(model_dir, chemprot_dir, tmp_path / "b",
                                     task_name="chemprot_scibert", head="entity_start",
                                     init_checkpoint=str(tmp_path / "a")), STRATEGY)
    follow.build()
    follow.initialize()
    for mine, theirs in zip(follow.model.trainable_variables, runner.model.trainable_variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    # ... or the encoder alone when its labels differ (GAD's two).
    other = RelationTask(tiny_run(model_dir, gad_dir / "1", tmp_path / "c", task_name="gad",
                                    head="entity_start", init_checkpoint=str(tmp_path / "a")),
                           STRATEGY)
    other.build()
    fresh_head = other.model.classifier.kernel.numpy()
    other.initialize()
    for mine, theirs in zip(other.model.encoder.trainable_variables,
                            runner.model.encoder.trainable_variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    np.testing.assert_array_equal(other.model.classifier.kernel.numpy(), fresh_head)

    # Raw sentences, one per line of a file; a sentence without markers is reported.
    source = tmp_path / "sentences.txt"
    source.write_text("[E1] EGFR [/E1] is blocked by [E2] gefitinib [/E2].\nno entities\n")
    predict_file(runner.predict_texts, str(source), str(tmp_path / "out.jsonl"),
                 progress=False)
    first, second = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text()
                     .splitlines()]
    assert first["line"] == 1 and first["label"] in runner.spec.labels
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert "error" in second
    # Written for PubTator: the marked mentions as entities, and the relation unless negative.
    pubtator_path = tmp_path / "out.pubtator"
    prediction_formats.render_file(str(tmp_path / "out.jsonl"), str(pubtator_path), "pubtator",
                                   runner.prediction_document)
    documents = pubtator.parse(pubtator_path.read_text(encoding="utf-8"))
    assert [(m.text, m.type) for m in documents[0].mentions] == [("EGFR", "E1"),
                                                                  ("gefitinib", "E2")]
    assert [(r.type, r.id1, r.id2) for r in documents[0].relations] == (
        [] if first["label"] == runner.spec.negative else [(first["label"], "T0", "T1")])
    assert documents[1].mentions == () and documents[1].relations == ()
    assert classify(runner.classifier, ["[E1] a [/E1] [E2] b [/E2]"], runner.spec.labels,
                    runner.spec.entity_mode)[0]["label"]


def test_relation_spec_keeps_entity_types_and_reads_older_files(tmp_path):
    spec = RelationSpec(("0", "1"), "blind", entity_types=("GENE", "DISEASE"),
                        placeholders=("@GENE$", "@DISEASE$"))
    spec.save(str(tmp_path / "new.json"))
    assert RelationSpec.load(str(tmp_path / "new.json")) == spec
    old = {"labels": ["0", "1"], "entity_mode": "blind", "head": "cls", "lstm_units": 128}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert RelationSpec.load(str(tmp_path / "old.json")) == RelationSpec(("0", "1"), "blind")
    (tmp_path / "bad.json").write_text(json.dumps({**old, "entity_types": ["GENE", "DISEASE"]}))
    with pytest.raises(ValueError, match=r"bad.json: not a saved RelationSpec \(a blind model "
                                         r"of entity_types \['GENE', 'DISEASE'\] needs"):
        RelationSpec.load(str(tmp_path / "bad.json"))


def test_entity_types_from_blinded_data_or_the_setting(model_dir, gad_dir, chemprot_dir,
                                                       tmp_path):
    def spec(data_dir, out, **settings):
        return RelationTask(tiny_run(model_dir, data_dir, tmp_path / out, **settings),
                            STRATEGY).spec

    gad = spec(gad_dir / "1", "gad", task_name="gad")
    assert (gad.entity_types, gad.placeholders) == (("GENE", "DISEASE"), ("@GENE$", "@DISEASE$"))
    assert RelationSpec.load(str(tmp_path / "gad" / "relation_model.json")) == gad
    # On blinded data the setting may order the types (in any case), not rename them.
    ordered = spec(gad_dir / "1", "ordered", task_name="gad", entity_mode="markers",
                   entity_types=("Disease", "Gene"))
    assert (ordered.entity_types, ordered.placeholders) == (("Disease", "Gene"),
                                                            ("@DISEASE$", "@GENE$"))
    with pytest.raises(ValueError, match=r"^--entity_types=GENE,CHEMICAL contradicts the "
                                         r"placeholders of \S+train.tsv: @GENE\$, @DISEASE\$$"):
        spec(gad_dir / "1", "wrong", task_name="gad", entity_types=("GENE", "CHEMICAL"))
    # Data that names no types: the setting's, written as --placeholders in blind mode.
    for mode, placeholders in (("markers", ()), ("blind", ("@CHEMICAL$", "@GENE$"))):
        chem = spec(chemprot_dir, mode, task_name="chemprot_scibert", entity_mode=mode,
                    entity_types=("CHEMICAL", "GENE"), placeholders=("@CHEMICAL$", "@GENE$"))
        assert (chem.entity_types, chem.placeholders) == (("CHEMICAL", "GENE"), placeholders)
    assert spec(chemprot_dir, "untyped", task_name="chemprot_scibert").entity_types == ()
    # A run that loads the trained model: the flag must agree with its spec.
    assert spec(gad_dir / "1", "gad", task_name="gad", do_train=False,
                entity_types=("gene", "disease")) == gad
    with pytest.raises(run_dir.SettingsConflict, match="--entity_types=DISEASE contradicts the "
                                                       "trained model's entity_types=GENE,DISEASE"):
        spec(gad_dir / "1", "gad", task_name="gad", do_train=False, entity_types=("DISEASE",))


def test_a_third_entity_type_names_its_line(model_dir, tmp_path):
    (tmp_path / "train.tsv").write_text("@GENE$ binds @DISEASE$.\t1\n@CHEM-GENE$ here.\t0\n"
                                        "@CHEMICAL$ treats @DISEASE$.\t0\n", encoding="utf-8")
    with pytest.raises(re_data.ReDataError, match=r"train.tsv:3: a third entity type "
                                                  r"@CHEMICAL\$ after @GENE\$, @DISEASE\$"):
        RelationTask(tiny_run(model_dir, tmp_path, tmp_path / "out", task_name="gad"),
                     STRATEGY).validate()
    with pytest.raises(ValueError, match="--entity_types needs one or two names"):
        RelationTask(tiny_run(model_dir, tmp_path, tmp_path / "out", task_name="gad",
                              entity_types=("A", "B", "C")), STRATEGY).validate()


def test_malformed_rows_name_their_line(model_dir, tmp_path):
    (tmp_path / "train.tsv").write_text("@GENE$ causes @DISEASE$.\t1\n"
                                        "no placeholders here\t0\n", encoding="utf-8")
    with pytest.raises(re_data.ReDataError, match="train.tsv:2: blinded data needs"):
        RelationTask(tiny_run(model_dir, tmp_path, tmp_path / "out", task_name="gad"),
                     STRATEGY).validate()
    (tmp_path / "train.tsv").write_text("@GENE$ causes @DISEASE$.\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="only one label"):
        RelationTask(tiny_run(model_dir, tmp_path, tmp_path / "out", task_name="gad"),
                     STRATEGY).validate()


def test_a_malformed_test_file_fails_before_any_training(model_dir, gad_dir, tmp_path):
    data = tmp_path / "data"
    cut(gad_dir / "1" / "train.tsv", data / "train.tsv", 96)
    (data / "test.tsv").write_text("index\tsentence\tlabel\n0\t@GENE$ and @DISEASE$.\n",
                                   encoding="utf-8")
    result = subprocess.run([*python(), str(REPO / "run_re.py"), "--task_name=gad",
                             f"--data_dir={data}", f"--output_dir={tmp_path / 'out'}",
                             f"--bert_config_file={model_dir / 'bert_config.json'}",
                             f"--vocab_file={model_dir / 'vocab.txt'}", "--do_train",
                             "--do_predict", "--max_seq_length=64", "--train_batch_size=16"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{data / 'test.tsv'}:2" in result.stderr
    assert not list((tmp_path / "out").glob("**/ckpt-*.index"))  # nothing was trained


def test_predict_without_a_trained_run_says_so(model_dir, gad_dir, tmp_path):
    with pytest.raises(ValueError, match=r"relation_model.json: train first \(--do_train\)"):
        RelationTask(tiny_run(model_dir, gad_dir / "1", tmp_path / "never_trained",
                              task_name="gad", do_train=False), STRATEGY).validate()


MIRRORED_SCRIPT = r"""
import sys, numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
from biobert_tf.engine import driver
from biobert_tf.tasks.relation.task import RelationSettings, RelationTask
model_dir, data_dir, out = sys.argv[1:]
def run(**settings):
    return RelationSettings(data_dir=data_dir, output_dir=out, init_checkpoint=None,
                       bert_config_file=model_dir + "/bert_config.json",
                       vocab_file=model_dir + "/vocab.txt", do_lower_case=False,
                       max_seq_length=64, train_batch_size=16, eval_batch_size=16,
                       predict_batch_size=6, learning_rate=1e-3, num_train_epochs=1,
                       iterations_per_loop=3, task_name="gad", head="sll_att", **settings)
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
driver.run(RelationTask(run(do_train=True, do_predict=True), mirrored))
two = np.loadtxt(out + "/test_results.tsv", delimiter="\t")
single = RelationTask(run(do_train=False, do_predict=True), tf.distribute.get_strategy())
test = single.examples("test")
one = single.evaluate(single.restore(), "test")["probabilities"]
assert two.shape == (len(test), 2), two.shape
np.testing.assert_allclose(one, two, atol=1e-5)
print("same")
"""


def test_mirrored_two_cpus_trains_and_keeps_test_order(model_dir, gad_dir, tmp_path):
    # 40 test rows in batches of 6 (3 per replica): the last batch is padded, rows stay in order.
    result = subprocess.run([*python(), "-c", MIRRORED_SCRIPT, str(model_dir),
                             str(gad_dir / "1"), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "same" in result.stdout, result.stderr[-3000:]


def test_a_predicted_sentence_as_a_document():
    gad = RelationSpec(("0", "1"), "blind", entity_types=("GENE", "DISEASE"),
                       placeholders=("@GENE$", "@DISEASE$"))
    text = "@DISEASE$ risk is raised by @GENE$ variants."
    doc = prediction_document({"line": 3, "text": text, "label": "1", "score": 0.8}, gad)
    doc.check_offsets()
    assert [(e.id, e.text, e.type) for e in doc.entities] == [("T0", "@DISEASE$", "DISEASE"),
                                                              ("T1", "@GENE$", "GENE")]
    # e1 is the first placeholder in the sentence, as the encoder reads it.
    assert [(r.type, r.e1, r.e2, r.score) for r in doc.relations] == [("1", "T0", "T1", 0.8)]
    negative = prediction_document({"line": 3, "text": text, "label": "0", "score": 0.9}, gad)
    assert negative.relations == [] and len(negative.entities) == 2
    unread = prediction_document({"line": 4, "text": "no entity", "error": "..."}, gad)
    assert unread.entities == [] and unread.relations == []

    chemprot = RelationSpec(("false", "CPR:3"), "blind")
    joint = prediction_document({"line": 1, "text": "@CHEM-GENE$ binds.", "label": "CPR:3",
                                 "score": 0.6}, chemprot)
    assert [(e.text, e.type) for e in joint.entities] == [("@CHEM-GENE$", "CHEM-GENE")]
    assert [(r.e1, r.e2) for r in joint.relations] == [("T0", "T0")]

    markers = RelationSpec(("false", "CPR:3"), "markers", entity_types=("CHEMICAL", "GENE"))
    text = "[E2]  EGFR [/E2] is blocked by [E1] gefitinib [/E1]."
    marked = prediction_document({"line": 1, "text": text, "label": "CPR:3", "score": 0.7},
                                 markers)
    marked.check_offsets()
    assert [(e.id, e.text, e.type) for e in marked.entities] == [("T0", "EGFR", "GENE"),
                                                                 ("T1", "gefitinib", "CHEMICAL")]
    assert [(r.e1, r.e2) for r in marked.relations] == [("T1", "T0")]


def test_labels_outside_a_fixed_task_set_are_errors_and_unseen_ones_warnings(caplog):
    def example(label, path, line):
        return re_data.RelationExample("@GENE$ and @DISEASE$.", label, None, None, "x", path,
                                       line)

    train = [example("0", "train.tsv", 2), example("1", "train.tsv", 3)]
    with pytest.raises(ValueError, match=r"^test.tsv:5: label '2' is not one of gad's labels "
                                         r"\['0', '1'\]$"):
        check_labels(train, [example("1", "test.tsv", 4), example("2", "test.tsv", 5)], "gad")
    with pytest.raises(ValueError, match="^train.tsv:2: label 'yes'"):
        check_labels([example("yes", "train.tsv", 2)], [], "euadr")
    caplog.set_level("WARNING")
    check_labels(train, [example("2", "test.tsv", 5), example("2", "test.tsv", 6)], None)
    assert caplog.messages == ["test.tsv:5: label '2' is in no training example (a typo?); the "
                               "model gets a class for it that it cannot learn"]
