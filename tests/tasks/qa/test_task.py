"""run_qa end to end on cuts of the real SQuAD and BioASQ files: Google's prediction files,
SQuAD → BioASQ transfer, factoid / list / yes-no answers and scores, dev scores and early
stopping, predict-only from a run directory, the SavedModel, bad input before training."""

import dataclasses
import json
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.tasks.qa import data as qa_data
from biobert_tf import resources
from biobert_tf.bert.config import BertConfig
from biobert_tf.engine import driver
from biobert_tf.tasks.qa import bioasq
from biobert_tf.tasks.qa.bioasq import ANSWER_FILE
from biobert_tf.tasks.qa.task import QaSettings, SpanQaTask, read_examples
from biobert_tf.tasks.qa.yesno import YesNoTask
from helpers import REPO, python, serve_in_fresh_process, shared_file

VOCAB = resources.path(resources.DEMO_VOCAB)
STRATEGY = tf.distribute.get_strategy()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_qa_model")
    BertConfig(vocab_size=len(open(VOCAB, encoding="utf-8").read().splitlines()),
               hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=96).to_json_file(
        str(directory / "bert_config.json"))
    return directory


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """3 SQuAD paragraphs, 12 4B1 golden questions of each type, the first 5b-1 test pairs."""
    directory = tmp_path_factory.mktemp("qa_data")
    with open(shared_file("qa", "SQuAD-v1.1", "dev-v1.1.json"), encoding="utf-8") as f:
        squad = json.load(f)
    squad["data"] = [{"title": "cut", "paragraphs": squad["data"][0]["paragraphs"][:3]}]
    (directory / "squad.json").write_text(json.dumps(squad))
    for name, source in (("train_golden.json", "4B1_golden.json"),
                         ("dev_golden.json", "4B2_golden.json")):
        with open(shared_file("qa", "BioASQ", source), encoding="utf-8") as f:
            questions = json.load(f)["questions"]
        cut = [q for kind in ("factoid", "list", "yesno")
               for q in [q for q in questions if q["type"] == kind][:12]]
        (directory / name).write_text(json.dumps({"questions": cut}))
    with open(shared_file("qa", "BioASQ", "BioASQ-test-factoid-5b-1.json"), encoding="utf-8") as f:
        test = json.load(f)
    test["data"][0]["paragraphs"] = test["data"][0]["paragraphs"][:20]
    (directory / "test.json").write_text(json.dumps(test))
    with open(shared_file("qa", "BioASQ", "5B1_golden.json"), encoding="utf-8") as f:
        (directory / "test_golden.json").write_text(f.read())
    return directory


@pytest.fixture(scope="module")
def squad_run(model_dir, data_dir, tmp_path_factory):
    """run_qa.py trained on the SQuAD cut, dev-scored every epoch, predicted and exported:
    (its output_dir, its SavedModel). One run: the BioASQ runs start from it too."""
    folder = tmp_path_factory.mktemp("squad_run")
    out, saved = folder / "squad_out", folder / "saved_model"
    result = subprocess.run(
        [*python(), str(REPO / "run_qa.py"), "--do_train", "--do_predict",
         f"--train_file={data_dir / 'squad.json'}", f"--predict_file={data_dir / 'squad.json'}",
         f"--output_dir={out}", f"--bert_config_file={model_dir / 'bert_config.json'}",
         f"--vocab_file={VOCAB}", "--do_lower_case=false", "--max_seq_length=96",
         "--doc_stride=32", "--max_query_length=24", "--train_batch_size=8",
         "--learning_rate=3e-3", "--num_train_epochs=3", "--iterations_per_loop=10",
         "--n_best_size=5", f"--export_dir={saved}", "--do_eval",
         f"--dev_file={data_dir / 'squad.json'}", "--early_stopping_patience=3",
         # float32 on every CPU (auto is bfloat16 on AVX512-BF16, where the served and the
         # predicted scores round differently, ~0.006), so that they match to 1e-5 everywhere.
         "--mixed_precision=none"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out, saved


def test_run_qa_squad_predictions_and_savedmodel(squad_run, data_dir, tmp_path):
    out, saved = squad_run
    examples = qa_data.read_squad(str(data_dir / "squad.json"))
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    predictions = json.loads((out / "predictions.json").read_text())
    assert list(nbest) == list(predictions) == [x.id for x in examples]
    for x in examples:
        best = nbest[x.id]
        assert 1 <= len(best) <= 5 and len({b["text"] for b in best}) == len(best)
        assert sum(b["probability"] for b in best) == pytest.approx(1.0, abs=1e-6)
        assert [b["score"] for b in best] == sorted((b["score"] for b in best), reverse=True)
        for b in best:
            assert x.context[b["start"]:b["end"]] == b["text"]
        assert predictions[x.id] == best[0]["text"]
    metrics = json.loads((out / "qa_metrics.json").read_text())["squad"]
    assert metrics["num_questions"] == len(examples) and metrics["f1"] > 10  # it learned
    assert "squad_exact_match" in (out / "eval_results.txt").read_text()
    # --do_eval scores the dev file; early stopping kept the best epoch's weights.
    dev = json.loads((out / "dev_metrics.json").read_text())["squad"]
    assert dev["num_questions"] == len(examples)
    assert max(json.loads((out / "dev_history.json").read_text())) == pytest.approx(dev["f1"])

    chosen = examples[:6]
    served = serve_in_fresh_process(saved, {"questions": [x.question for x in chosen],
                                            "contexts": [x.context for x in chosen]}, tmp_path)
    for x, texts, scores, n in zip(chosen, served["text"], served["score"],
                                   served["num_answers"]):
        expected = nbest[x.id]
        assert n >= len(expected)
        assert texts[:len(expected)] == [b["text"] for b in expected]
        np.testing.assert_allclose(scores[:len(expected)], [b["score"] for b in expected],
                                   atol=1e-5)

    # (Predict-only from the run directory, no model flag given: the BioASQ test's first run.)
    # A flag that contradicts the trained model's casing is an error naming both values
    # (in-process: run_ner's test checks that the command line prints it as one line).
    with pytest.raises(ValueError, match="--do_lower_case=true contradicts the trained "
                                         "model's do_lower_case=false"):
        driver.adopt_saved_settings(SpanQaTask, QaSettings(
            output_dir=str(out), do_predict=True, do_lower_case=True),
            frozenset({"do_lower_case"}))


def tiny_run(model_dir, output_dir, **settings):
    values = dict(data_dir="", output_dir=str(output_dir), init_checkpoint=None,
                  bert_config_file=str(model_dir / "bert_config.json"), vocab_file=VOCAB,
                  do_lower_case=False, max_seq_length=96, doc_stride=32, max_query_length=24,
                  do_train=True, train_batch_size=8, predict_batch_size=16, learning_rate=1e-3,
                  num_train_epochs=1, iterations_per_loop=10, n_best_size=5)
    values.update(settings)
    return QaSettings(**values)


def bioasq_test_set(golden, path) -> str:
    """A BioASQ test set: the golden file without its answers."""
    questions = json.loads(golden.read_text())["questions"]
    path.write_text(json.dumps({"questions": [
        {k: v for k, v in q.items() if k not in ("exact_answer", "ideal_answer")}
        for q in questions]}))
    return str(path)


def bioasq_5b_release(data_dir, tmp_path) -> pathlib.Path:
    """BioBERT's release layout for biobert_qa/bioasq_5b(_golden): batch 1 is the fixture's
    test.json, the other batches and every golden file are the real ones."""
    folder = tmp_path / "release" / "QA" / "BioASQ"
    folder.mkdir(parents=True)
    shutil.copy(data_dir / "test.json", folder / "BioASQ-test-factoid-5b-1.json")
    for k in range(1, 6):
        if k > 1:
            shutil.copy(shared_file("qa", "BioASQ", f"BioASQ-test-factoid-5b-{k}.json"), folder)
        shutil.copy(shared_file("qa", "BioASQ", f"5B{k}_golden.json"), folder)
    return folder.parents[1]


def answer_file(run) -> dict:
    """The submission file of the newest predict-only run in a run directory."""
    newest = max((p for p in run.iterdir() if p.name.startswith("predict-")),
                 key=lambda p: p.stat().st_mtime_ns)
    return json.loads((newest / ANSWER_FILE).read_text())


def test_bioasq_factoid_list_and_yesno_from_squad(squad_run, model_dir, data_dir, tmp_path):
    squad_out, _ = squad_run
    # Factoid answers of the SQuAD model (the list run below trains on BioASQ golden
    # examples from it), predicted from a copy of its run directory with no model flag (the
    # run's windows and casing; the TFDS run below gives them): its results in a fresh
    # subfolder. Without the answers (no --golden_file): submitted, not scored.
    factoid_dir = tmp_path / "factoid"
    shutil.copytree(squad_out, factoid_dir)
    # float32 in both (auto is bfloat16 on AVX512-BF16, where batches cut otherwise round
    # differently and may move an answer).
    predict_only = subprocess.run(
        [*python(), str(REPO / "run_qa.py"), f"--output_dir={factoid_dir}", "--do_predict",
         f"--predict_file={data_dir / 'test.json'}", "--n_best_size=5",
         "--mixed_precision=none"],
        capture_output=True, text=True, timeout=600)
    assert predict_only.returncode == 0, predict_only.stderr[-4000:]
    [fresh] = factoid_dir.glob("predict-*")
    assert {p.name for p in fresh.iterdir()} == {"predictions.json", "nbest_predictions.json",
                                                 ANSWER_FILE}
    submitted = answer_file(factoid_dir)["questions"]
    test_questions = {qa_data.question_id(x.id) for x in
                      qa_data.read_squad(str(data_dir / "test.json"))}
    assert {q["id"] for q in submitted} == test_questions
    for q in submitted:
        assert q["type"] == "factoid" and 1 <= len(q["exact_answer"]) <= 5
        assert all(len(a) == 1 and 0 < len(a[0]) <= 100 for a in q["exact_answer"])
    # The same batch through TFDS (run_qa.py --tfds_name=biobert_qa/bioasq_5b
    # --predict_file=test_batch_1 --golden_file=test_batch_1), with the run's settings given:
    # the same submission, scored as batch 1's golden file scores it.
    through_tfds = driver.run(SpanQaTask(tiny_run(
        model_dir, factoid_dir, do_train=False, do_predict=True, predict_file="test_batch_1",
        golden_file="test_batch_1", tfds_name="biobert_qa/bioasq_5b", mixed_precision="none",
        tfds_manual_dir=str(bioasq_5b_release(data_dir, tmp_path)),
        tfds_data_dir=str(tmp_path / "tfds")), STRATEGY))["test"]
    assert answer_file(factoid_dir) == {"questions": submitted}
    golden = qa_data.read_golden(str(data_dir / "test_golden.json"))
    scores = through_tfds["bioasq"]
    assert scores == bioasq.scores("factoid", bioasq.golden_answers(golden, "factoid", "5B1"),
                                   {q["id"]: [a for [a] in q["exact_answer"]]
                                    for q in submitted})
    # Every factoid question of the golden batch counts, answered or not.
    assert scores["num_questions"] == 25
    assert 0 <= scores["strict_accuracy"] <= scores["lenient_accuracy"] <= 1

    # List questions, trained from the SQuAD run; --do_eval and early stopping: the golden
    # dev file's list F1 at the tuned threshold.
    test_set = bioasq_test_set(data_dir / "dev_golden.json", tmp_path / "test_set.json")
    listed = tiny_run(model_dir, tmp_path / "list", question_type="list", max_seq_length=64,
                      init_checkpoint=str(squad_out),
                      train_file=str(data_dir / "train_golden.json"),
                      dev_file=str(data_dir / "dev_golden.json"), predict_file=test_set,
                      do_predict=True, do_eval=True, early_stopping_patience=1,
                      predict_batch_size=8)  # = eval_batch_size: both splits batched alike
    by_split = driver.run(SpanQaTask(listed, STRATEGY))
    dev = by_split["dev"]
    assert dev["score"] == dev["bioasq"]["f1"] == dev["list_threshold"]["dev_f1"]
    assert dev["bioasq"]["num_questions"] == 12
    assert 0.05 <= dev["list_threshold"]["threshold"] <= 1.0
    assert len(json.loads((tmp_path / "list" / "dev_history.json").read_text())) == 1
    # A golden-format test set without answers (the dev questions): predicted at the
    # threshold tuned on dev, submitted, not scored.
    result = by_split["test"]
    assert "bioasq" not in result and result["list_threshold"] == dev["list_threshold"]
    assert result["answers"] == dev["answers"]
    submitted = json.loads((tmp_path / "list" / ANSWER_FILE).read_text())["questions"]
    assert {q["id"]: q["exact_answer"] for q in submitted} == {
        qid: [[a] for a in answers] for qid, answers in dev["answers"].items()}
    assert len(submitted) == 12 and {q["type"] for q in submitted} == {"list"}
    with pytest.raises(ValueError, match="test_set.json: no list question has an exact_answer"):
        driver.run(SpanQaTask(dataclasses.replace(listed, do_train=False, do_eval=False,
                                                  golden_file=test_set), STRATEGY))

    yesno = tiny_run(model_dir, tmp_path / "yesno", question_type="yesno", max_seq_length=64,
                     train_file=str(data_dir / "train_golden.json"),
                     predict_file=str(data_dir / "dev_golden.json"), do_predict=True,
                     export_dir=str(tmp_path / "yesno_saved"), do_eval=True,
                     dev_file=str(data_dir / "dev_golden.json"))
    yesno_by_split = driver.run(YesNoTask(yesno, STRATEGY))
    result = yesno_by_split["test"]["bioasq"]
    assert result["num_questions"] == 12 and set(result) >= {"accuracy", "macro_f1"}
    submitted = json.loads((tmp_path / "yesno" / ANSWER_FILE).read_text())["questions"]
    assert {q["exact_answer"] for q in submitted} <= {"yes", "no"} and len(submitted) == 12
    unknown = driver.run(YesNoTask(dataclasses.replace(yesno, do_train=False, do_eval=False,
                                                       export_dir=None, predict_file=test_set),
                                   STRATEGY))["test"]
    assert "bioasq" not in unknown
    assert answer_file(tmp_path / "yesno") == {"questions": submitted}
    dev = yesno_by_split["dev"]
    assert dev["score"] == dev["bioasq"]["macro_f1"] and dev["bioasq"]["num_questions"] == 12
    pairs = qa_data.pair_examples(qa_data.read_golden(str(data_dir / "dev_golden.json")),
                                  ("yesno",))[:4]
    served = tf.saved_model.load(str(tmp_path / "yesno_saved")).signatures["serving_default"](
        questions=tf.constant([x.question for x in pairs]),
        contexts=tf.constant([x.context for x in pairs]))
    assert {a.decode() for a in served["answer"].numpy()} <= {"yes", "no"}
    assert ((served["yes_probability"] >= 0) & (served["yes_probability"] <= 1)).numpy().all()


def test_bad_input_fails_before_training(model_dir, data_dir, tmp_path):
    out = tmp_path / "out"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q"}]}]}]}))
    run = tiny_run(model_dir, out, train_file=str(data_dir / "squad.json"), do_predict=True,
                   predict_file=str(bad))
    with pytest.raises(qa_data.QaDataError, match=r"bad.json: data\[0\].paragraphs\[0\].qas\[0\]"):
        driver.run(SpanQaTask(run, STRATEGY))
    assert tf.train.latest_checkpoint(str(out)) is None and not (out / "best").exists()
    with pytest.raises(ValueError, match="--do_eval and --early_stopping_patience need --dev_file"):
        driver.run(SpanQaTask(tiny_run(model_dir, out, train_file=str(data_dir / "squad.json"),
                                       do_eval=True), STRATEGY))
    with pytest.raises(ValueError, match="test.json: --dev_file has no answers to score"):
        driver.run(SpanQaTask(tiny_run(model_dir, out, train_file=str(data_dir / "squad.json"),
                                       do_eval=True, dev_file=str(data_dir / "test.json")),
                               STRATEGY))


def test_yesno_training_data_from_several_golden_files(data_dir, tmp_path, caplog):
    """Every batch's golden file adds training pairs; a question in two files is refused;
    pairs without an answer are left out of training, with a warning."""
    train, dev = data_dir / "train_golden.json", data_dir / "dev_golden.json"
    both = read_examples([str(train), str(dev)], "yesno", training_data=True)
    alone = read_examples([str(train)], "yesno", training_data=True)
    assert len(both) > len(alone) and {x.label for x in both} == {"yes", "no"}
    assert len({qa_data.question_id(x.id) for x in both}) == 24
    with pytest.raises(ValueError, match=r"copy.json: question \w{24} is also in .*"
                                         r"train_golden.json"):
        read_examples([str(train), shutil.copy(train, tmp_path / "copy.json")], "yesno", True)
    unanswered = bioasq_test_set(dev, tmp_path / "test_set.json")
    caplog.set_level("WARNING")
    assert read_examples([str(train), unanswered], "yesno", True) == alone
    assert re.search(r"^\d+ training examples without an answer are left out \(the first: "
                     r"question \w+, id \w+\)$", caplog.messages[-1]), caplog.messages
    with pytest.raises(ValueError, match="no yesno examples with an answer"):
        read_examples([unanswered], "yesno", training_data=True)
