"""Sachan et al.'s models: vocabulary and lookup, encoder shapes and directionality, the BiLM
learning on real PubMed text, exact weight transfer, and the BiLSTM-CRF tagger end to end."""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf import resources
from biobert_tf.tasks.ner.bilstm.bilm import BiLmPretraining, BiLmSettings
from biobert_tf.tasks.ner.bilstm.model import BiLstmConfig, SequenceEncoder
from biobert_tf.tasks.ner.data import read_conll
from biobert_tf.tasks.ner.bilstm.task import BiLstmNerTask
from biobert_tf.tasks.ner.task import NerSettings
from biobert_tf.tasks.ner.bilstm.vocab import WordLookup, WordVocab, read_word_vectors
from helpers import REPO, corpus_lines, python, serve_in_fresh_process
from helpers import LINE_ENDINGS, with_line_endings

DEMO_DATA = resources.path(resources.NER_DEMO_DIR)
STRATEGY = tf.distribute.get_strategy()


def test_vocab_counts_lowercases_and_looks_up_in_graph(tmp_path):
    vocab = WordVocab.build([["BRCA1", "gene", "Gene"], ["gene", "x"]], min_count=2,
                            lowercase=True, max_word_chars=4)
    assert vocab.words == ["<pad>", "<unk>", "<s>", "</s>", "gene"]
    assert set(vocab.chars[2:]) == set("BRCA1geneGx")
    vocab.save(str(tmp_path / "v.json"))
    assert WordVocab.load(str(tmp_path / "v.json")) == vocab
    ids, chars = WordLookup(vocab)(tf.constant(["GENE", "BRCA1", "ß"]))
    assert ids.numpy().tolist() == [4, 1, 1]
    index = {c: i for i, c in enumerate(vocab.chars)}
    unk = vocab.unk_id  # "E", "N" and "ß" never occur; characters keep their case
    assert chars.numpy().tolist() == [[index["G"], unk, unk, unk], [index[c] for c in "BRCA"],
                                      [unk, 0, 0, 0]]
    (tmp_path / "vectors.txt").write_text("2 3\ngene 1 2 3\nother 4 5 6\n")
    matrix, found = read_word_vectors(str(tmp_path / "vectors.txt"), vocab, 3)
    assert found == 1 and matrix[4].tolist() == [1, 2, 3] and not matrix[0].any()
    (tmp_path / "vectors.txt").write_text("gene 1 2\n")
    with pytest.raises(ValueError, match="vectors.txt:1: 2 numbers, expected 3"):
        read_word_vectors(str(tmp_path / "vectors.txt"), vocab, 3)


@pytest.mark.parametrize("ending", LINE_ENDINGS)
def test_word_vectors_read_every_line_ending_like_lf(tmp_path, ending):
    vocab = WordVocab.build([["gene", "gene", "cell", "cell"]], min_count=2, lowercase=True,
                            max_word_chars=4)
    path = tmp_path / "vectors.txt"
    path.write_bytes(with_line_endings("2 3\ngene 1 2 3\ncell 4 5 6\n", ending))
    matrix, found = read_word_vectors(str(path), vocab, 3)
    assert found == 2
    assert matrix[vocab.words.index("gene")].tolist() == [1, 2, 3]
    assert matrix[vocab.words.index("cell")].tolist() == [4, 5, 6]
    path.write_bytes(with_line_endings("2 3\ngene 1 2 3\ncell 4 5\n", ending))
    with pytest.raises(ValueError, match="vectors.txt:3: 2 numbers, expected 3"):
        read_word_vectors(str(path), vocab, 3)


@pytest.mark.parametrize("layers", [1, 2])
def test_encoder_directions_see_only_their_side(layers):
    config = BiLstmConfig(vocab_size=30, num_chars=10, word_embedding_dim=8,
                          char_embedding_dim=4, char_filters=6, lstm_units=5, num_layers=layers)
    encoder = SequenceEncoder(config)
    rng = np.random.default_rng(layers)
    ids = rng.integers(4, 30, (2, 9)).astype(np.int32)
    chars = rng.integers(0, 10, (2, 9, 6)).astype(np.int32)
    mask = np.ones((2, 9), np.int32)
    mask[1, 6:] = 0
    forward, backward = (x.numpy() for x in encoder(ids, chars, mask))
    assert forward.shape == backward.shape == (2, 9, 5)
    assert not forward[1, 6:].any() and not backward[1, 6:].any()
    t = 3  # change the word at t: forward states before t and backward states after t stay
    changed_ids, changed_chars = ids.copy(), chars.copy()
    changed_ids[:, t], changed_chars[:, t] = 5 if ids[0, t] != 5 else 6, 9
    forward2, backward2 = (x.numpy() for x in encoder(changed_ids, changed_chars, mask))
    np.testing.assert_allclose(forward2[:, :t], forward[:, :t], atol=1e-6)
    np.testing.assert_allclose(backward2[0, t + 1:], backward[0, t + 1:], atol=1e-6)
    assert not np.allclose(forward2[:, t:6], forward[:, t:6])
    assert not np.allclose(backward2[:, :t + 1], backward[:, :t + 1])
    # Padding never leaks into the backward direction of a shorter sentence.
    padded_ids = ids.copy()
    padded_ids[1, 6:] = 7
    _, backward3 = (x.numpy() for x in encoder(padded_ids, chars, mask))
    np.testing.assert_allclose(backward3[1], backward[1], atol=1e-6)


@pytest.fixture(scope="module")
def bilm_runner(tmp_path_factory):
    """A BiLM trained for one epoch on 100 PubMed abstracts and the demo's NER sentences."""
    directory = tmp_path_factory.mktemp("bilm")
    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()[:100]) + "\n", encoding="utf-8")
    settings = BiLmSettings(output_dir=str(directory / "out"), input_file=str(corpus),
                            ner_file=os.path.join(DEMO_DATA, "train.tsv"),
                            train_batch_size=32, eval_batch_size=64, learning_rate=5e-3,
                            num_train_epochs=1, iterations_per_loop=20, eval_fraction=0.1,
                            word_embedding_dim=32, lstm_units=48, char_filters=16)
    runner = BiLmPretraining(settings, STRATEGY)
    before = runner.evaluate(runner.build())
    trainer = runner.train()
    runner.scores = before, runner.evaluate(trainer)
    return runner


def test_bilm_perplexity_falls_on_real_text(bilm_runner):
    before, after = bilm_runner.scores
    assert before["perplexity"] > 0.8 * len(bilm_runner.vocab)  # untrained: about uniform
    assert after["perplexity"] < 0.25 * before["perplexity"]
    chance = 1 / len(bilm_runner.vocab)
    assert min(after["forward_accuracy"], after["backward_accuracy"]) > 30 * chance
    out = bilm_runner.settings.output_dir
    assert {"word_vocab.json", "bilstm_config.json", "task.json"} <= set(os.listdir(out))


BILM = ["-m", "biobert_tf.tasks.ner.bilstm.bilm"]


def test_bilm_run_directory_evaluates_alone_and_refuses_contradicting_flags(bilm_runner,
                                                                            tmp_path):
    s = bilm_runner.settings
    same_text = [f"--input_file={s.input_file}", f"--ner_file={s.ner_file}",
                 f"--eval_fraction={s.eval_fraction}"]
    # No architecture flag: the run's task.json gives it.
    evaluated = subprocess.run([*python(), *BILM, f"--output_dir={s.output_dir}",
                                "--do_train=false", *same_text],
                               capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-4000:]
    with open(os.path.join(s.output_dir, "eval_results.txt")) as f:
        results = dict(line.split(" = ") for line in f.read().splitlines())
    assert float(results["perplexity"]) == pytest.approx(bilm_runner.scores[1]["perplexity"],
                                                         rel=1e-3)
    for args, message in (
            ([f"--output_dir={s.output_dir}", "--lstm_units=64", *same_text],
             "--lstm_units=64 contradicts the trained model's lstm_units=48"),
            ([f"--output_dir={tmp_path}"], "no text: give --input_file")):
        result = subprocess.run([*python(), *BILM, *args], capture_output=True, text=True,
                                timeout=600)
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert result.returncode == 1 and len(errors) == 1 and message in errors[0], \
            result.stderr[-3000:]
        assert "Traceback" not in result.stderr


def test_tagger_takes_exactly_the_bilm_encoder(bilm_runner, tmp_path):
    run = NerSettings(data_dir=DEMO_DATA, output_dir=str(tmp_path), init_checkpoint=None,
                      train_file="train.tsv", do_train=True, model="bilstm_crf",
                      init_bilm_checkpoint=bilm_runner.settings.output_dir)
    runner = BiLstmNerTask(run, STRATEGY)
    assert runner.vocab == bilm_runner.vocab
    runner.build()
    fresh = [v.numpy() for v in runner.model.classifier.weights + runner.model.crf.weights]
    runner.initialize()
    source, target = bilm_runner.model.encoder.weights, runner.model.encoder.weights
    assert len(source) == len(target) >= 10
    for s, t in zip(source, target):
        assert s.path.split("/", 1)[1] == t.path.split("/", 1)[1]
        np.testing.assert_array_equal(s.numpy(), t.numpy())
    for before, after in zip(fresh, runner.model.classifier.weights + runner.model.crf.weights):
        np.testing.assert_array_equal(before, after.numpy())  # the head starts fresh


def test_run_ner_bilstm_crf_learns_and_exports(tmp_path):
    out, saved = tmp_path / "out", tmp_path / "saved_model"
    result = subprocess.run(
        [*python(), str(REPO / "run_ner.py"), "--model=bilstm_crf",
         f"--data_dir={DEMO_DATA}", "--train_file=train.tsv", "--test_file=devel.tsv",
         f"--output_dir={out}", "--do_train", "--do_predict", "--num_train_epochs=2",
         "--learning_rate=1e-2", "--train_batch_size=16", "--iterations_per_loop=50",
         "--lstm_units=48", "--word_embedding_dim=50", f"--export_dir={saved}"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    report = (out / "test_results.txt").read_text()
    f1 = float(report.split("FB1:")[1].split()[0])
    assert f1 > 50.0, report  # learned from 1,000 sentences in two epochs (F1 about 68)
    test = read_conll(os.path.join(DEMO_DATA, "devel.tsv"))
    conll = (out / "NER_result_conll.txt").read_text(encoding="utf-8").split("\n")
    assert [line.split(" ")[0] for line in conll if line] == [t for s in test for t in s.tokens]

    texts = ["Ataxia-telangiectasia is a recessive disorder.", "",
             "Germline mutations in BRCA1 predispose to breast and ovarian cancer."]
    served = serve_in_fresh_process(saved, {"texts": texts}, tmp_path)
    entities = [row[:n] for row, n in zip(served["text"], served["num_entities"])]
    assert entities[1] == [] and any(entities)
    for text, found in zip(texts, entities):
        assert all(e in text for e in found)

    # Predicting from the run directory needs no other flag (not even --model).
    predicted = subprocess.run(
        [*python(), str(REPO / "run_ner.py"), f"--output_dir={out}",
         f"--predict_text={texts[2]}"], capture_output=True, text=True, timeout=600)
    assert predicted.returncode == 0, predicted.stderr[-4000:]
    [fresh] = [p for p in out.iterdir() if p.name.startswith("predict-")]
    tagged = json.loads((fresh / "text_predictions.jsonl").read_text(encoding="utf-8"))
    assert [e["text"] for e in tagged["entities"]] == entities[2]
    # A BERT tagger cannot start from this run: one line saying why (it asked for a vocab).
    bert = subprocess.run(
        [*python(), str(REPO / "run_ner.py"), f"--data_dir={DEMO_DATA}", "--train_file=train.tsv",
         f"--output_dir={tmp_path / 'bert'}", "--do_train", f"--init_checkpoint={out}"],
        capture_output=True, text=True, timeout=600)
    assert bert.returncode == 1 and bert.stderr.splitlines()[-1] == (
        f"run_ner.py: error: --init_checkpoint={out}: a ner_bilstm run, which has no BERT "
        "encoder to start from"), bert.stderr[-3000:]
